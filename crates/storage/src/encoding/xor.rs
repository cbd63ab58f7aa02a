//! Fallback for values that are not short decimals: XOR with the previous value,
//! stored byte-aligned (Gorilla's idea without its bit packing, which decodes
//! faster and leaves the byte patterns for zstd to find).
//!
//! Per value after the first (8 raw bytes): a control byte, then the XOR's
//! non-zero middle bytes. Control `0` = same bits as before; otherwise
//! `0b01_ttt_lll` where `ttt` = zero bytes dropped at the low end and `lll + 1` =
//! number of bytes that follow.

use super::varint::ByteReader;
use super::EncodingError;

const SAME: u8 = 0;
const TAG: u8 = 0b0100_0000;

pub fn encode_xor(values: &[f64], out: &mut Vec<u8>) {
    let mut prev = values[0].to_bits();
    out.extend_from_slice(&prev.to_le_bytes());
    for v in &values[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            out.push(SAME);
            continue;
        }
        let low_zero_bytes = x.trailing_zeros() / 8;
        let high_zero_bytes = x.leading_zeros() / 8;
        let len = 8 - low_zero_bytes - high_zero_bytes;
        out.push(TAG | ((low_zero_bytes as u8) << 3) | (len as u8 - 1));
        let bytes = (x >> (low_zero_bytes * 8)).to_le_bytes();
        out.extend_from_slice(&bytes[..len as usize]);
    }
}

pub fn decode_xor(
    n: usize,
    r: &mut ByteReader<'_>,
    out: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    let start = out.len();
    out.resize(start + n, 0.0);
    let Some((first, rest)) = out[start..].split_first_mut() else {
        return Ok(());
    };
    let mut prev = r.u64_le("first raw value")?;
    *first = f64::from_bits(prev);
    for slot in rest {
        let control = r.u8("xor control byte")?;
        if control != SAME {
            if control & 0b1100_0000 != TAG {
                return Err(EncodingError::Corrupt("invalid xor control byte"));
            }
            let shift = (control >> 3) & 0b111;
            let len = (control & 0b111) as usize + 1;
            if shift as usize + len > 8 {
                return Err(EncodingError::Corrupt("xor value wider than 8 bytes"));
            }
            prev ^= r.uint_le(len, "xor value bytes")? << (shift * 8);
        }
        *slot = f64::from_bits(prev);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[f64]) -> usize {
        let mut out = Vec::new();
        encode_xor(values, &mut out);
        let mut back = Vec::new();
        let mut r = ByteReader::new(&out);
        decode_xor(values.len(), &mut r, &mut back).unwrap();
        assert_eq!(r.remaining(), 0);
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(values));
        out.len()
    }

    #[test]
    fn repeated_values_cost_one_byte() {
        assert_eq!(round_trip(&[0.1, 0.1, 0.1, 0.1]), 8 + 3);
    }

    #[test]
    fn special_values_round_trip() {
        round_trip(&[
            f64::NAN,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(0x7ff0_0000_0000_0002),
            0.0,
        ]);
    }

    #[test]
    fn invalid_control_bytes_are_errors() {
        let mut data = 1.0f64.to_bits().to_le_bytes().to_vec();
        data.push(0b1000_0000);
        let err = decode_xor(2, &mut ByteReader::new(&data), &mut Vec::new());
        assert_eq!(err, Err(EncodingError::Corrupt("invalid xor control byte")));
        data.pop();
        data.extend_from_slice(&[TAG | (7 << 3) | 1, 1, 2]);
        let err = decode_xor(2, &mut ByteReader::new(&data), &mut Vec::new());
        assert_eq!(
            err,
            Err(EncodingError::Corrupt("xor value wider than 8 bytes"))
        );
    }

    proptest! {
        #[test]
        fn any_bits_round_trip(bits in prop::collection::vec(any::<u64>(), 1..100)) {
            let values: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            round_trip(&values);
        }
    }
}
