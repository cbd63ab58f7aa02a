//! Samples and the stale marker.

use crate::Labels;

/// Bit pattern of Prometheus' staleness marker: a NaN that is never produced by arithmetic.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True only for the exact stale-marker bit pattern; other NaNs are ordinary values.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample. Timestamps are Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub timestamp: i64,
    pub value: f64,
}

impl Sample {
    pub fn new(timestamp: i64, value: f64) -> Sample {
        Sample { timestamp, value }
    }
}

/// Bit-exact equality, so that NaN payloads (the stale marker) compare as stored.
impl PartialEq for Sample {
    fn eq(&self, other: &Sample) -> bool {
        self.timestamp == other.timestamp && self.value.to_bits() == other.value.to_bits()
    }
}
impl Eq for Sample {}

/// The kind of samples a storage block holds. Only `Float` exists today; the tag is
/// stored on disk so native histograms can be added without a format break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SampleKind {
    Float = 1,
    Histogram = 2,
}

/// A label set with its samples: the unit that decoders produce and storage appends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

impl TimeSeries {
    pub fn new(labels: Labels, samples: Vec<Sample>) -> TimeSeries {
        TimeSeries { labels, samples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinct_from_other_nans() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(STALE_NAN.is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert_ne!(Sample::new(1, STALE_NAN), Sample::new(1, f64::NAN));
        assert_eq!(Sample::new(1, f64::NAN), Sample::new(1, f64::NAN));
    }
}
