//! Fixed-width bit packing: `n` unsigned integers of `width` bits each, little-endian,
//! least significant bits first, in `ceil(n × width / 8)` bytes.
//!
//! Decoding is a load, a shift and a mask per value with no data-dependent branch,
//! several times faster than varints, and the packed bytes carry no structure left
//! for zstd to spend time on. The integer-sequence codecs use it when every value of
//! a block fits in a few bits (scrape jitter, counter increments of similar size).

/// Bits needed for `v` (0 for 0).
#[inline]
pub fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Bytes taken by `n` packed values of `width` bits.
pub fn packed_len(n: usize, width: u32) -> usize {
    (n as u128 * width as u128).div_ceil(8) as usize
}

/// Appends `values`, each below `2^width` (`width` ≤ 64), packed.
pub fn pack(values: impl Iterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    debug_assert!(width <= 64);
    if width == 0 {
        return;
    }
    let mut acc = 0u128;
    let mut bits = 0u32;
    for v in values {
        debug_assert!(
            width == 64 || v >> width == 0,
            "{v} wider than {width} bits"
        );
        acc |= (v as u128) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// Fills `dst` with `f(v)` for each of the `dst.len()` values packed in `data`, in
/// order; `data` must hold exactly [`packed_len`]`(dst.len(), width)` bytes (the
/// caller checks this against its input).
#[inline]
pub fn unpack<T>(data: &[u8], width: u32, dst: &mut [T], mut f: impl FnMut(u64) -> T) {
    debug_assert!(width <= 64 && data.len() == packed_len(dst.len(), width));
    if width == 0 {
        dst.iter_mut().for_each(|slot| *slot = f(0));
        return;
    }
    let mask = u64::MAX >> (64 - width);
    let width = width as usize;
    // One 8-byte load covers a value when its shift (≤ 7) plus its width fit in 64
    // bits, and the load stays inside `data`.
    let fast = if width <= 56 && data.len() >= 8 {
        ((data.len() - 8) * 8 / width + 1).min(dst.len())
    } else {
        0
    };
    let (head, tail) = dst.split_at_mut(fast);
    for (i, slot) in head.iter_mut().enumerate() {
        let bit = i * width;
        let byte = bit / 8;
        let word = u64::from_le_bytes(data[byte..byte + 8].try_into().expect("8 bytes"));
        *slot = f((word >> (bit % 8)) & mask);
    }
    for (i, slot) in tail.iter_mut().enumerate() {
        *slot = f(read_slow(data, (fast + i) * width, width) & mask);
    }
}

/// Reads the `width` bits starting at bit `bit` from whatever bytes remain.
#[cold]
fn read_slow(data: &[u8], bit: usize, width: usize) -> u64 {
    let start = bit / 8;
    let end = (bit + width).div_ceil(8).min(data.len());
    let mut bytes = [0u8; 16];
    bytes[..end - start].copy_from_slice(&data[start..end]);
    (u128::from_le_bytes(bytes) >> (bit % 8)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[u64], width: u32) -> Vec<u8> {
        let mut out = Vec::new();
        pack(values.iter().copied(), width, &mut out);
        assert_eq!(out.len(), packed_len(values.len(), width));
        let mut back = vec![0; values.len()];
        unpack(&out, width, &mut back, |v| v);
        assert_eq!(back, values);
        out
    }

    #[test]
    fn two_bit_values_take_a_quarter_byte() {
        let values: Vec<u64> = (0..100).map(|i| i % 4).collect();
        assert_eq!(round_trip(&values, 2).len(), 25);
    }

    #[test]
    fn widths_zero_and_sixty_four_round_trip() {
        assert!(round_trip(&[0; 10], 0).is_empty());
        round_trip(&[u64::MAX, 0, 1, u64::MAX - 1, 1 << 63], 64);
        round_trip(&[(1 << 57) - 1, 5, 1 << 56], 57);
    }

    #[test]
    fn bit_width_counts_significant_bits() {
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(4), 3);
        assert_eq!(bit_width(u64::MAX), 64);
    }

    proptest! {
        #[test]
        fn any_width_round_trips(width in 0u32..=64, raw in prop::collection::vec(any::<u64>(), 0..200)) {
            let mask = if width == 0 { 0 } else { u64::MAX >> (64 - width) };
            let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
            round_trip(&values, width);
        }
    }
}
