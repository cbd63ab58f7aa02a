//! Codecs for sequences of `i64`: timestamps and decimal mantissas share them.
//!
//! All arithmetic wraps, so any sequence round-trips exactly, even one whose
//! differences overflow (the encoder never needs to reject input).

use super::bitpack::{bit_width, pack, packed_len, unpack};
use super::varint::{put_ivarint, put_uvarint, zigzag, ByteReader};
use super::EncodingError;

/// How a sequence of integers is stored. The discriminant is written to disk.
///
/// `Delta` and `DeltaOfDelta` divide their differences by the differences' greatest
/// common divisor (the "scale"), so memory sizes counted in 4 KiB pages or timestamps
/// rounded to whole seconds cost as little as small integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IntSeqCodec {
    /// First value and one step: `x[i] = x[0] + i * step`. Fixed scrape intervals,
    /// constants, counters growing at a constant rate.
    Linear = 1,
    /// First value, scale, then each difference / scale as a zigzag varint.
    /// Gauges, irregular times.
    Delta = 2,
    /// First value, first difference, scale, then the change of each difference /
    /// scale. Counters and jittery fixed-interval timestamps.
    DeltaOfDelta = 3,
    /// Base, step, then each value's non-negative offset from the grid
    /// `base + i * step`. Fixed-interval scrapes with timing jitter: the offsets are
    /// the jitter itself (a few ms), where differences would carry it twice.
    GridOffset = 4,
    /// First value, scale, the smallest difference / scale, a bit width, then each
    /// difference / scale minus that minimum, bit-packed (`bitpack.rs`). Counters
    /// and gauges whose steps stay within a narrow range.
    PackedDelta = 5,
    /// Base and step as in `GridOffset`, a bit width, then the offsets bit-packed.
    /// Jittered scrape timestamps: 0–3 ms of jitter is 2 bits a sample.
    PackedGridOffset = 6,
}

impl IntSeqCodec {
    pub fn from_id(id: u8) -> Result<IntSeqCodec, EncodingError> {
        match id {
            1 => Ok(IntSeqCodec::Linear),
            2 => Ok(IntSeqCodec::Delta),
            3 => Ok(IntSeqCodec::DeltaOfDelta),
            4 => Ok(IntSeqCodec::GridOffset),
            5 => Ok(IntSeqCodec::PackedDelta),
            6 => Ok(IntSeqCodec::PackedGridOffset),
            other => Err(EncodingError::UnknownIntegerCodec(other)),
        }
    }
}

fn deltas(xs: &[i64]) -> impl Iterator<Item = i64> + '_ {
    xs.windows(2).map(|w| w[1].wrapping_sub(w[0]))
}

/// Changes of consecutive differences (starting with the second difference).
fn deltas_of_deltas(xs: &[i64]) -> impl Iterator<Item = i64> + '_ {
    deltas(xs)
        .zip(deltas(&xs[1..]))
        .map(|(a, b)| b.wrapping_sub(a))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    while b != 0 {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
    }
    a << shift
}

/// Largest positive `g` dividing every item exactly (1 when there is none better).
fn common_divisor(items: impl Iterator<Item = i64>) -> i64 {
    let mut g = 0u64;
    for v in items {
        g = gcd(g, v.unsigned_abs());
        if g == 1 {
            break;
        }
    }
    if g == 0 || g > i64::MAX as u64 {
        1
    } else {
        g as i64
    }
}

/// Significant bits of `v`: the codec choice compares these sums rather than
/// varint bytes, because zstd's entropy stage brings the stored size close to them
/// (jitter of 0..3 ms costs ~2 bits a sample after zstd, not a whole byte).
fn bit_len(v: u64) -> usize {
    64 - v.leading_zeros() as usize
}

fn zigzag_bits(items: impl Iterator<Item = i64>, scale: i64) -> usize {
    items.map(|v| bit_len(zigzag(v / scale))).sum()
}

/// Picks the cheapest codec for `xs` (by significant bits) and appends its payload.
/// `xs` must not be empty.
pub fn encode_ints(xs: &[i64], out: &mut Vec<u8>) -> IntSeqCodec {
    let first_delta = xs.get(1).map_or(0, |second| second.wrapping_sub(xs[0]));
    if deltas(xs).all(|d| d == first_delta) {
        put_ivarint(out, xs[0]);
        if xs.len() > 1 {
            put_ivarint(out, first_delta);
        }
        return IntSeqCodec::Linear;
    }
    let delta_scale = common_divisor(deltas(xs));
    let dod_scale = common_divisor(deltas_of_deltas(xs));
    let delta_cost = zigzag_bits(deltas(xs), delta_scale);
    let dod_cost = zigzag_bits(deltas_of_deltas(xs), dod_scale) + bit_len(zigzag(first_delta));
    let grid = Grid::fit(xs);
    let grid_cost: usize = grid.offsets(xs).map(bit_len).sum();
    let grid_width = bit_width(grid.offsets(xs).max().unwrap_or(0));
    let (min_step, max_step) = min_max(deltas(xs).map(|d| d / delta_scale));
    let step_width = bit_width(max_step.wrapping_sub(min_step) as u64);
    let grid_packed_cost = packed_cost(xs.len(), grid_width);
    let delta_packed_cost = packed_cost(xs.len() - 1, step_width);
    let varint_start = out.len();
    let varint_codec = if grid_cost < delta_cost.min(dod_cost) {
        put_ivarint(out, grid.base);
        put_ivarint(out, grid.step);
        grid.offsets(xs).for_each(|o| put_uvarint(out, o));
        IntSeqCodec::GridOffset
    } else if dod_cost < delta_cost {
        put_ivarint(out, xs[0]);
        put_ivarint(out, first_delta);
        put_uvarint(out, dod_scale as u64);
        deltas_of_deltas(xs).for_each(|d| put_ivarint(out, d / dod_scale));
        IntSeqCodec::DeltaOfDelta
    } else {
        put_ivarint(out, xs[0]);
        put_uvarint(out, delta_scale as u64);
        deltas(xs).for_each(|d| put_ivarint(out, d / delta_scale));
        IntSeqCodec::Delta
    };
    // zstd's entropy stage stores varint bytes in about their order-0 entropy (plus
    // ~0.2-0.7 bits a value measured on benches/codec.rs: random-walk gauges ±40
    // took 6.5 bits against 6.34, steps over 0-1500 13.2 against ~12.9), and on
    // such evenly spread values it finds no matches either. Packed values cost
    // exactly their width and decode several times faster than varints + zstd, so
    // they win when the width stays within that overhead. The constant term stands
    // for the Huffman table, which short sequences cannot amortise.
    let packed_cost = grid_packed_cost.min(delta_packed_cost);
    let zstd_estimate = byte_entropy_bits(&out[varint_start..]) + 0.6 * xs.len() as f64 + 256.0;
    if packed_cost == usize::MAX || packed_cost as f64 > zstd_estimate {
        return varint_codec;
    }
    let use_grid = grid_packed_cost <= delta_packed_cost;
    let width = if use_grid { grid_width } else { step_width };
    if width > WIDE_PACKED {
        let repeats = if use_grid {
            repeat_often(grid.offsets(xs))
        } else {
            repeat_often(deltas(xs).map(|d| d as u64))
        };
        if repeats {
            return varint_codec;
        }
    }
    out.truncate(varint_start);
    if use_grid {
        put_ivarint(out, grid.base);
        put_ivarint(out, grid.step);
        out.push(grid_width as u8);
        pack(grid.offsets(xs), grid_width, out);
        IntSeqCodec::PackedGridOffset
    } else {
        put_ivarint(out, xs[0]);
        put_uvarint(out, delta_scale as u64);
        put_ivarint(out, min_step);
        out.push(step_width as u8);
        let steps = deltas(xs).map(|d| (d / delta_scale).wrapping_sub(min_step) as u64);
        pack(steps, step_width, out);
        IntSeqCodec::PackedDelta
    }
}

/// Order-0 entropy of `bytes` in bits: what an ideal byte-wise entropy coder needs.
fn byte_entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    bytes.iter().for_each(|&b| counts[b as usize] += 1);
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 * (total / c as f64).log2())
        .sum()
}

/// Values wider than this are packed only when they rarely repeat.
const WIDE_PACKED: u32 = 16;

/// Values wider than this (varints of 4 bytes or more) are never packed: zstd finds
/// 3-byte matches inside their varints even when whole values rarely repeat. A gauge
/// divided by 3 stored with 10 decimal places (43-bit steps) took 2.9 bytes a value
/// as zstd-compressed varints and would take 5.4 packed.
const MAX_PACKED: u32 = 21;

/// Bits taken by packing `n` values of `width` bits, or `usize::MAX` when zstd
/// will likely store their varints smaller because they are too wide.
fn packed_cost(n: usize, width: u32) -> usize {
    if width > MAX_PACKED {
        return usize::MAX;
    }
    n * width as usize
}

/// Whether fewer than three quarters of `values` are distinct: wide values that
/// repeat that often become zstd matches, which packing would hide behind unaligned
/// bits. Sorting costs more than the rest of the codec choice, so it only runs for
/// wide values that would otherwise be packed.
fn repeat_often(values: impl Iterator<Item = u64>) -> bool {
    let mut sorted: Vec<u64> = values.collect();
    let n = sorted.len();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.len() < n - n / 4
}

/// Smallest and largest item (`(0, 0)` for none).
fn min_max(items: impl Iterator<Item = i64>) -> (i64, i64) {
    items
        .fold(None, |acc: Option<(i64, i64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0, 0))
}

/// The straight line `base + i * step` lying just below every value.
struct Grid {
    base: i64,
    step: i64,
}

impl Grid {
    /// Step = median difference, which jitter and missed scrapes do not move (the
    /// slope between the end points would be off by a fraction, and that error
    /// accumulates over a block); base lowered so that no value lies below the line.
    fn fit(xs: &[i64]) -> Grid {
        let mut ds: Vec<i64> = deltas(xs).collect();
        let mid = ds.len() / 2;
        let step = *ds.select_nth_unstable(mid).1;
        let line = Grid { base: xs[0], step };
        let lowest = line.signed_offsets(xs).min().unwrap_or(0);
        Grid {
            base: xs[0].wrapping_add(lowest),
            step,
        }
    }

    fn point(&self, i: usize) -> i64 {
        self.base.wrapping_add((i as i64).wrapping_mul(self.step))
    }

    fn signed_offsets<'a>(&'a self, xs: &'a [i64]) -> impl Iterator<Item = i64> + 'a {
        xs.iter()
            .enumerate()
            .map(|(i, x)| x.wrapping_sub(self.point(i)))
    }

    /// Offsets from a fitted grid; non-negative by construction (as unsigned, they
    /// are exact even when the wrapping difference exceeds `i64::MAX`).
    fn offsets<'a>(&'a self, xs: &'a [i64]) -> impl Iterator<Item = u64> + 'a {
        self.signed_offsets(xs).map(|o| o as u64)
    }
}

/// Reads a bit width and the `n` values packed with it.
fn read_packed<'a>(r: &mut ByteReader<'a>, n: usize) -> Result<(&'a [u8], u32), EncodingError> {
    let width = r.u8("bit width")? as u32;
    if width > 64 {
        return Err(EncodingError::Corrupt("bit width above 64"));
    }
    Ok((r.bytes(packed_len(n, width), "bit-packed integers")?, width))
}

fn read_scale(r: &mut ByteReader<'_>) -> Result<i64, EncodingError> {
    match r.uvarint("integer sequence scale")? {
        0 => Err(EncodingError::Corrupt("integer sequence scale is zero")),
        // Any other value decodes deterministically (wrapping), so no further check.
        scale => Ok(scale as i64),
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
    if codec == IntSeqCodec::GridOffset {
        let base = r.ivarint(WHAT)?;
        let step = r.ivarint(WHAT)?;
        let mut point = base;
        for slot in dst.iter_mut() {
            *slot = map(point.wrapping_add(r.uvarint(WHAT)? as i64));
            point = point.wrapping_add(step);
        }
        return Ok(());
    }
    if codec == IntSeqCodec::PackedGridOffset {
        let base = r.ivarint(WHAT)?;
        let step = r.ivarint(WHAT)?;
        let (packed, width) = read_packed(r, dst.len())?;
        // `move`: the running state lives in the closure, which `unpack` keeps in
        // registers, not behind a reference into this frame.
        let mut point = base;
        unpack(packed, width, dst, move |offset| {
            let x = point.wrapping_add(offset as i64);
            point = point.wrapping_add(step);
            map(x)
        });
        return Ok(());
    }
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
            let scale = read_scale(r)?;
            for slot in rest {
                x = x.wrapping_add(r.ivarint(WHAT)?.wrapping_mul(scale));
                *slot = map(x);
            }
        }
        IntSeqCodec::DeltaOfDelta => {
            let mut delta = r.ivarint(WHAT)?;
            let scale = read_scale(r)?;
            x = x.wrapping_add(delta);
            rest[0] = map(x);
            for slot in &mut rest[1..] {
                delta = delta.wrapping_add(r.ivarint(WHAT)?.wrapping_mul(scale));
                x = x.wrapping_add(delta);
                *slot = map(x);
            }
        }
        IntSeqCodec::PackedDelta => {
            let scale = read_scale(r)?;
            let min_step = r.ivarint(WHAT)?;
            let (packed, width) = read_packed(r, rest.len())?;
            let mut acc = x;
            unpack(packed, width, rest, move |step| {
                let step = (step as i64).wrapping_add(min_step);
                acc = acc.wrapping_add(step.wrapping_mul(scale));
                map(acc)
            });
        }
        IntSeqCodec::GridOffset | IntSeqCodec::PackedGridOffset => {
            unreachable!("handled above")
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
    fn jittered_interval_is_stored_as_grid_offsets() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ts: Vec<i64> = (0..100)
            .map(|i| 1_700_000_000_000 + i * 15_000 + rng.random_range(0..4))
            .collect();
        let (codec, len) = round_trip(&ts);
        assert_eq!(codec, IntSeqCodec::PackedGridOffset);
        // base (6 bytes), step (3), width (1), 100 offsets of 2 bits.
        assert!(len <= 6 + 3 + 1 + 25, "{len} bytes");
    }

    #[test]
    fn rare_large_jitter_is_not_bit_packed() {
        // Packing would pay the 10 bits of the rare 901 ms delay for every sample.
        let ts: Vec<i64> = (0..100)
            .map(|i| 1_700_000_000_000 + i * 15_000 + if i % 40 == 7 { 901 } else { 0 })
            .collect();
        let (codec, len) = round_trip(&ts);
        assert_eq!(codec, IntSeqCodec::GridOffset);
        assert!(len <= 6 + 3 + 100 + 3, "{len} bytes");
    }

    #[test]
    fn accelerating_sequence_prefers_delta_of_delta() {
        let xs: Vec<i64> = (0..100).map(|i| i * i * 1000 + i % 3).collect();
        assert_eq!(round_trip(&xs).0, IntSeqCodec::DeltaOfDelta);
    }

    #[test]
    fn walk_with_rare_jumps_prefers_delta() {
        let mut x = 0;
        let xs: Vec<i64> = (0..100)
            .map(|i| {
                x += if i == 50 {
                    1_000_000
                } else {
                    [0, 1, -1, 0, 2][i % 5]
                };
                x
            })
            .collect();
        assert_eq!(round_trip(&xs).0, IntSeqCodec::Delta);
    }

    #[test]
    fn repeating_wide_steps_are_left_to_zstd() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let not_packed = |xs: &[i64]| {
            let (codec, _) = round_trip(xs);
            assert!(
                !matches!(
                    codec,
                    IntSeqCodec::PackedDelta | IntSeqCodec::PackedGridOffset
                ),
                "{codec:?}"
            );
        };
        let mut walk = |max_step: i64, unit: i64| {
            let mut x = 3_333_333_333_333_333i64;
            (0..1000)
                .map(|_| {
                    x += rng.random_range(-max_step..max_step) * unit + 1;
                    x
                })
                .collect::<Vec<i64>>()
        };
        // 43-bit steps: never packed.
        not_packed(&walk(1000, 3_333_333_333));
        // 18-bit steps, 100 distinct ones in 1000.
        not_packed(&walk(50, 2000));
    }

    #[test]
    fn evenly_spread_steps_are_bit_packed() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut total = 5_000_000i64;
        let xs: Vec<i64> = (0..1000)
            .map(|_| {
                total += rng.random_range(0..1500);
                total
            })
            .collect();
        let (codec, len) = round_trip(&xs);
        assert_eq!(codec, IntSeqCodec::PackedDelta, "{len} bytes");
        // 999 steps of 11 bits after subtracting the smallest, plus a short header.
        assert!(len <= 999 * 11 / 8 + 1 + 10, "{len} bytes");
    }

    #[test]
    fn common_factors_are_divided_out() {
        let pages: Vec<i64> = [5, 9, 2, 7, 7, 1]
            .iter()
            .map(|p| 1_000_000 * 4096 + p * 4096)
            .collect();
        let (codec, len) = round_trip(&pages);
        assert_eq!(codec, IntSeqCodec::PackedDelta);
        // first value (5 bytes), scale (2), minimum step (1), width (1), five 4-bit
        // steps; unscaled steps would take 16 bits each.
        assert!(len <= 5 + 2 + 1 + 1 + 3, "{len} bytes");
        // A missed scrape: differences in units of 15 s, one bit each.
        let ts =
            [0, 15_000, 30_000, 60_000, 75_000, 90_000, 105_000].map(|t| 1_700_000_000_000i64 + t);
        let (codec, len) = round_trip(&ts);
        assert_eq!(codec, IntSeqCodec::PackedDelta);
        assert!(len <= 6 + 3 + 1 + 1 + 1, "{len} bytes");
    }

    #[test]
    fn gcd_matches_definition() {
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(0, 12), 12);
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(4096 * 3, 4096 * 5), 4096);
        assert_eq!(gcd(u64::MAX, 3), 3);
        assert_eq!(common_divisor([i64::MIN].into_iter()), 1);
        assert_eq!(common_divisor([-8, 12].into_iter()), 4);
        assert_eq!(common_divisor([0, 0].into_iter()), 1);
    }

    #[test]
    fn zero_scale_is_an_error() {
        // first value 0, scale 0, one delta
        let data = [0, 0, 2];
        let err = decode_ints(
            IntSeqCodec::Delta,
            &mut ByteReader::new(&data),
            &mut [0i64; 2],
            |x| x,
        );
        assert_eq!(
            err,
            Err(EncodingError::Corrupt("integer sequence scale is zero"))
        );
    }

    #[test]
    fn extremes_round_trip_with_wrapping() {
        round_trip(&[i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX]);
        round_trip(&[i64::MAX]);
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[0, i64::MIN, 0, i64::MIN, 5]);
        round_trip(&[i64::MIN, 0, i64::MIN, 0, i64::MIN]);
    }

    #[test]
    fn corrupt_packed_headers_are_errors() {
        // first value 0, scale 1, minimum 0, width 65
        let data = [0, 1, 0, 65];
        let err = decode_ints(
            IntSeqCodec::PackedDelta,
            &mut ByteReader::new(&data),
            &mut [0i64; 3],
            |x| x,
        );
        assert_eq!(err, Err(EncodingError::Corrupt("bit width above 64")));
        // base 0, step 0, width 8, but only 2 of 3 bytes
        let data = [0, 0, 8, 1, 2];
        let err = decode_ints(
            IntSeqCodec::PackedGridOffset,
            &mut ByteReader::new(&data),
            &mut [0i64; 3],
            |x| x,
        );
        assert_eq!(err, Err(EncodingError::Truncated("bit-packed integers")));
    }

    #[test]
    fn unknown_codec_id_is_an_error() {
        assert_eq!(
            IntSeqCodec::from_id(0),
            Err(EncodingError::UnknownIntegerCodec(0))
        );
        assert_eq!(
            IntSeqCodec::from_id(7),
            Err(EncodingError::UnknownIntegerCodec(7))
        );
    }

    proptest! {
        #[test]
        fn any_sequence_round_trips(xs in prop::collection::vec(any::<i64>(), 1..200)) {
            round_trip(&xs);
        }

        #[test]
        fn garbage_payloads_are_errors_or_values_never_panics(
            id in 1u8..=6,
            n in 1usize..300,
            data in prop::collection::vec(any::<u8>(), 0..400),
        ) {
            let codec = IntSeqCodec::from_id(id).unwrap();
            let mut dst = vec![0i64; n];
            let _ = decode_ints(codec, &mut ByteReader::new(&data), &mut dst, |x| x);
        }

        #[test]
        fn scaled_steps_round_trip(
            start in any::<i64>(),
            unit in 1i64..1_000_000,
            steps in prop::collection::vec(-5i64..50, 1..200),
        ) {
            let mut xs = vec![start];
            for s in steps {
                xs.push(xs.last().unwrap().wrapping_add(s * unit));
            }
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
