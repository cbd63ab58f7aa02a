//! Codecs for sequences of `i64`: timestamps and decimal mantissas share them.
//!
//! All arithmetic wraps, so any sequence round-trips exactly, even one whose
//! differences overflow (the encoder never needs to reject input).

use super::varint::{put_ivarint, uvarint_len, zigzag, ByteReader};
use super::EncodingError;

/// How a sequence of integers is stored. The discriminant is written to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IntSeqCodec {
    /// First value and one step: `x[i] = x[0] + i * step`. Fixed scrape intervals,
    /// constants, counters growing at a constant rate.
    Linear = 1,
    /// First value, then each difference as a zigzag varint. Gauges, irregular times.
    Delta = 2,
    /// First value, first difference, then the change of each difference.
    /// Counters and jittery fixed-interval timestamps.
    DeltaOfDelta = 3,
}

impl IntSeqCodec {
    pub fn from_id(id: u8) -> Result<IntSeqCodec, EncodingError> {
        match id {
            1 => Ok(IntSeqCodec::Linear),
            2 => Ok(IntSeqCodec::Delta),
            3 => Ok(IntSeqCodec::DeltaOfDelta),
            other => Err(EncodingError::UnknownIntegerCodec(other)),
        }
    }
}

/// Picks the cheapest codec for `xs` (by varint bytes) and appends its payload.
/// `xs` must not be empty.
pub fn encode_ints(xs: &[i64], out: &mut Vec<u8>) -> IntSeqCodec {
    debug_assert!(!xs.is_empty());
    let codec = choose_codec(xs);
    put_ivarint(out, xs[0]);
    match codec {
        IntSeqCodec::Linear => {
            if xs.len() > 1 {
                put_ivarint(out, xs[1].wrapping_sub(xs[0]));
            }
        }
        IntSeqCodec::Delta => {
            for w in xs.windows(2) {
                put_ivarint(out, w[1].wrapping_sub(w[0]));
            }
        }
        IntSeqCodec::DeltaOfDelta => {
            let mut prev_delta = xs[1].wrapping_sub(xs[0]);
            put_ivarint(out, prev_delta);
            for w in xs[1..].windows(2) {
                let delta = w[1].wrapping_sub(w[0]);
                put_ivarint(out, delta.wrapping_sub(prev_delta));
                prev_delta = delta;
            }
        }
    }
    codec
}

fn choose_codec(xs: &[i64]) -> IntSeqCodec {
    if xs.len() <= 2 {
        return IntSeqCodec::Linear;
    }
    let first_delta = xs[1].wrapping_sub(xs[0]);
    let mut all_equal = true;
    let mut delta_bytes = 0usize;
    let mut dod_bytes = 0usize;
    let mut prev_delta = first_delta;
    for w in xs[1..].windows(2) {
        let delta = w[1].wrapping_sub(w[0]);
        all_equal &= delta == first_delta;
        delta_bytes += uvarint_len(zigzag(delta));
        dod_bytes += uvarint_len(zigzag(delta.wrapping_sub(prev_delta)));
        prev_delta = delta;
    }
    if all_equal {
        IntSeqCodec::Linear
    } else if dod_bytes < delta_bytes {
        IntSeqCodec::DeltaOfDelta
    } else {
        IntSeqCodec::Delta
    }
}

/// Decodes `dst.len()` (≥ 1) integers, storing `map(x)` for each.
///
/// Writing into a pre-sized slice instead of pushing keeps capacity checks out of
/// the hot loops.
#[inline]
pub fn decode_ints<T>(
    codec: IntSeqCodec,
    r: &mut ByteReader<'_>,
    dst: &mut [T],
    map: impl Fn(i64) -> T,
) -> Result<(), EncodingError> {
    const WHAT: &str = "integer sequence";
    let Some((first, rest)) = dst.split_first_mut() else {
        return Ok(());
    };
    let mut x = r.ivarint(WHAT)?;
    *first = map(x);
    if rest.is_empty() {
        return Ok(());
    }
    match codec {
        IntSeqCodec::Linear => {
            let step = r.ivarint(WHAT)?;
            for slot in rest {
                x = x.wrapping_add(step);
                *slot = map(x);
            }
        }
        IntSeqCodec::Delta => {
            for slot in rest {
                x = x.wrapping_add(r.ivarint(WHAT)?);
                *slot = map(x);
            }
        }
        IntSeqCodec::DeltaOfDelta => {
            let mut delta = r.ivarint(WHAT)?;
            x = x.wrapping_add(delta);
            rest[0] = map(x);
            for slot in &mut rest[1..] {
                delta = delta.wrapping_add(r.ivarint(WHAT)?);
                x = x.wrapping_add(delta);
                *slot = map(x);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(xs: &[i64]) -> (IntSeqCodec, usize) {
        let mut out = Vec::new();
        let codec = encode_ints(xs, &mut out);
        let mut r = ByteReader::new(&out);
        let mut back = vec![0; xs.len()];
        decode_ints(codec, &mut r, &mut back, |x| x).unwrap();
        assert_eq!(back, xs);
        assert_eq!(r.remaining(), 0);
        (codec, out.len())
    }

    #[test]
    fn fixed_interval_is_linear_and_tiny() {
        let ts: Vec<i64> = (0..8192).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        let (codec, len) = round_trip(&ts);
        assert_eq!(codec, IntSeqCodec::Linear);
        assert!(len <= 10, "{len} bytes");
    }

    #[test]
    fn jittered_interval_prefers_delta_of_delta() {
        let ts: Vec<i64> = (0..100).map(|i| i * 15_000 + (i * 7 % 5)).collect();
        assert_eq!(round_trip(&ts).0, IntSeqCodec::DeltaOfDelta);
    }

    #[test]
    fn random_walk_prefers_delta() {
        let xs: Vec<i64> = (0..100).map(|i| [0, 3, -2, 5, 1][i % 5] * 1000).collect();
        assert_eq!(round_trip(&xs).0, IntSeqCodec::Delta);
    }

    #[test]
    fn extremes_round_trip_with_wrapping() {
        round_trip(&[i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX]);
        round_trip(&[i64::MAX]);
        round_trip(&[i64::MIN, i64::MAX]);
    }

    #[test]
    fn unknown_codec_id_is_an_error() {
        assert_eq!(
            IntSeqCodec::from_id(0),
            Err(EncodingError::UnknownIntegerCodec(0))
        );
        assert_eq!(
            IntSeqCodec::from_id(9),
            Err(EncodingError::UnknownIntegerCodec(9))
        );
    }

    proptest! {
        #[test]
        fn any_sequence_round_trips(xs in prop::collection::vec(any::<i64>(), 1..200)) {
            round_trip(&xs);
        }

        #[test]
        fn small_steps_round_trip(start in any::<i64>(), steps in prop::collection::vec(-3i64..3, 0..200)) {
            let mut xs = vec![start];
            for s in steps {
                xs.push(xs.last().unwrap().wrapping_add(s));
            }
            round_trip(&xs);
        }
    }
}
