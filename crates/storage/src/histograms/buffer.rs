//! Histogram samples appended since the last flush: the generic sharded buffer of
//! [`crate::buffer`], kept apart from the float buffer so the float append path pays
//! nothing for histograms.

use tidemark_model::{FloatHistogram, HistogramSample};

use super::rules;
use crate::buffer::{Buffered, Frozen, ShardedBuffer};

pub(crate) type HistogramBuffer = ShardedBuffer<HistogramSample>;
/// A histogram buffer being written to parts: read-only, sorted and resolved.
pub(crate) type FrozenHistograms = Frozen<HistogramSample>;

impl Buffered for HistogramSample {
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    fn buffered_bytes(&self) -> u64 {
        std::mem::size_of::<HistogramSample>() as u64 + heap_bytes(&self.histogram)
    }

    fn sort_and_resolve(samples: &mut Vec<HistogramSample>) {
        rules::sort_and_resolve(samples)
    }
}

/// Approximate heap size of a histogram's buckets and spans.
fn heap_bytes(h: &FloatHistogram) -> u64 {
    let buckets = h.positive_buckets.len() + h.negative_buckets.len() + h.custom_values.len();
    let spans = h.positive_spans.len() + h.negative_spans.len();
    (buckets * 8 + spans * 8) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: i64, count: f64) -> HistogramSample {
        HistogramSample {
            timestamp: t,
            histogram: FloatHistogram {
                count,
                ..Default::default()
            },
        }
    }

    #[test]
    fn take_sorts_resolves_and_empties() {
        let b = HistogramBuffer::new();
        b.add(3, &[h(5, 1.0), h(2, 1.0)]);
        b.add(3, &[h(5, 4.0)]);
        assert!(b.bytes() > 0);
        let mut got = Vec::new();
        b.collect(3, 3, 9, &mut got);
        assert_eq!(got.len(), 2);
        let frozen = b.take();
        assert_eq!(frozen.get(3), Some(&[h(2, 1.0), h(5, 4.0)][..]));
        assert_eq!(b.bytes(), 0);
        let mut got = Vec::new();
        frozen.collect(3, 3, 9, &mut got);
        assert_eq!(got, vec![h(5, 4.0)]);
    }

    #[test]
    fn buffered_bytes_count_buckets() {
        let mut big = h(1, 1.0);
        big.histogram.positive_buckets = vec![1.0; 10];
        assert_eq!(
            big.buffered_bytes(),
            h(1, 1.0).buffered_bytes() + 80,
            "ten buckets add 80 bytes"
        );
    }
}
