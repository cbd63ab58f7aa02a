//! Value codecs: picks, per block, the cheapest lossless representation.

use super::decimal::{pow10, to_decimal, DecimalBlock, MAX_EXPONENT};
use super::intseq::{decode_ints, encode_ints, IntSeqCodec};
use super::varint::{put_ivarint, put_uvarint, ByteReader};
use super::xor::{decode_xor, encode_xor};
use super::EncodingError;

/// How a block's values are stored. The discriminant is written to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueCodec {
    /// Every value has the same bit pattern: 8 raw bytes.
    Constant = 1,
    /// Integer mantissas with a shared decimal exponent (see `decimal.rs`), as an
    /// integer sequence, plus raw exceptions for values that are not decimals.
    Decimal = 2,
    /// XOR with the previous value (see `xor.rs`).
    Xor = 3,
}

impl ValueCodec {
    pub fn from_id(id: u8) -> Result<ValueCodec, EncodingError> {
        match id {
            1 => Ok(ValueCodec::Constant),
            2 => Ok(ValueCodec::Decimal),
            3 => Ok(ValueCodec::Xor),
            other => Err(EncodingError::UnknownValueCodec(other)),
        }
    }
}

/// Exceptions cost ~10 bytes each; past this share of the block XOR is cheaper.
fn max_exceptions(n: usize) -> usize {
    n / 4
}

/// Appends `values` (non-empty) in the best codec; `scratch` is reused between calls.
pub fn encode_values(values: &[f64], scratch: &mut DecimalBlock, out: &mut Vec<u8>) -> ValueCodec {
    let first = values[0].to_bits();
    if values.iter().all(|v| v.to_bits() == first) {
        out.extend_from_slice(&first.to_le_bytes());
        return ValueCodec::Constant;
    }
    if !to_decimal(values, max_exceptions(values.len()), scratch) {
        encode_xor(values, out);
        return ValueCodec::Xor;
    }
    put_ivarint(out, scratch.exponent as i64);
    let codec_at = out.len();
    out.push(0);
    let mantissa_codec = encode_ints(&scratch.mantissas, out);
    out[codec_at] = mantissa_codec as u8;
    put_uvarint(out, scratch.exceptions.len() as u64);
    let mut next = 0u32;
    for &i in &scratch.exceptions {
        put_uvarint(out, (i - next) as u64);
        out.extend_from_slice(&values[i as usize].to_bits().to_le_bytes());
        next = i + 1;
    }
    ValueCodec::Decimal
}

/// Appends `n` (≥ 1) decoded values to `out`.
pub fn decode_values(
    codec: ValueCodec,
    n: usize,
    r: &mut ByteReader<'_>,
    out: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    match codec {
        ValueCodec::Constant => {
            let v = f64::from_bits(r.u64_le("constant value")?);
            out.extend(std::iter::repeat_n(v, n));
            Ok(())
        }
        ValueCodec::Xor => decode_xor(n, r, out),
        ValueCodec::Decimal => decode_decimal(n, r, out),
    }
}

fn decode_decimal(
    n: usize,
    r: &mut ByteReader<'_>,
    out: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    let exponent = r.ivarint("decimal exponent")?;
    if exponent.unsigned_abs() > MAX_EXPONENT as u64 {
        return Err(EncodingError::Corrupt("decimal exponent out of range"));
    }
    let exponent = exponent as i32;
    let codec = IntSeqCodec::from_id(r.u8("mantissa codec")?)?;
    let start = out.len();
    out.resize(start + n, 0.0);
    // `decimal_to_f64` with the sign test and the table lookup out of the loop: the
    // same multiply or divide, so the same bits.
    let dst = &mut out[start..];
    if exponent < 0 {
        let divisor = pow10(exponent.unsigned_abs());
        decode_ints(codec, r, dst, move |m| m as f64 / divisor)?;
    } else {
        let factor = pow10(exponent as u32);
        decode_ints(codec, r, dst, move |m| m as f64 * factor)?;
    }
    let exceptions = r.uvarint("exception count")?;
    if exceptions > n as u64 {
        return Err(EncodingError::Corrupt("more exceptions than values"));
    }
    let decoded = &mut out[start..];
    let mut next = 0u64;
    for _ in 0..exceptions {
        let i = next.saturating_add(r.uvarint("exception index")?);
        if i >= n as u64 {
            return Err(EncodingError::Corrupt("exception index out of range"));
        }
        decoded[i as usize] = f64::from_bits(r.u64_le("exception value")?);
        next = i + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[f64]) -> (ValueCodec, usize) {
        let mut out = Vec::new();
        let codec = encode_values(values, &mut DecimalBlock::default(), &mut out);
        let mut back = vec![42.0];
        let mut r = ByteReader::new(&out);
        decode_values(codec, values.len(), &mut r, &mut back).unwrap();
        assert_eq!(r.remaining(), 0);
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back[1..]), bits(values));
        (codec, out.len())
    }

    #[test]
    fn picks_the_expected_codec() {
        assert_eq!(round_trip(&[f64::NAN; 10]).0, ValueCodec::Constant);
        assert_eq!(round_trip(&[1.5, 2.5, 2.75, 3.0]).0, ValueCodec::Decimal);
        let thirds: Vec<f64> = (1..50).map(|i| i as f64 / 3.0).collect();
        assert_eq!(round_trip(&thirds).0, ValueCodec::Xor);
    }

    #[test]
    fn counter_with_constant_increase_is_a_few_bytes() {
        let values: Vec<f64> = (0..1000).map(|i| 100.0 + i as f64 * 0.5).collect();
        let (codec, len) = round_trip(&values);
        assert_eq!(codec, ValueCodec::Decimal);
        assert!(len <= 8, "{len} bytes");
    }

    #[test]
    fn stale_markers_and_special_values_survive_inside_decimal_blocks() {
        let mut values: Vec<f64> = (0..100).map(|i| i as f64 * 1.25).collect();
        values[0] = -0.0;
        values[50] = f64::from_bits(0x7ff0_0000_0000_0002);
        values[51] = f64::NAN;
        values[99] = f64::NEG_INFINITY;
        assert_eq!(round_trip(&values).0, ValueCodec::Decimal);
    }

    #[test]
    fn corrupt_exception_lists_are_errors() {
        let mut out = Vec::new();
        let codec = encode_values(&[1.0, 2.0, 7.0], &mut DecimalBlock::default(), &mut out);
        assert_eq!(codec, ValueCodec::Decimal);
        *out.last_mut().unwrap() = 5; // exception count 5 > 3 values
        let err = decode_values(codec, 3, &mut ByteReader::new(&out), &mut Vec::new());
        assert_eq!(
            err,
            Err(EncodingError::Corrupt("more exceptions than values"))
        );
        *out.last_mut().unwrap() = 1;
        out.push(3); // index 3 of 3
        out.extend_from_slice(&[0; 8]);
        let err = decode_values(codec, 3, &mut ByteReader::new(&out), &mut Vec::new());
        assert_eq!(
            err,
            Err(EncodingError::Corrupt("exception index out of range"))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bits_round_trip(bits in prop::collection::vec(any::<u64>(), 1..100)) {
            let values: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            round_trip(&values);
        }

        #[test]
        fn decimals_mixed_with_specials_round_trip(
            digits in prop::collection::vec(-1_000_000i64..1_000_000, 1..200),
            places in 0i32..6,
            specials in prop::collection::vec((any::<prop::sample::Index>(), 0usize..5), 0..10),
        ) {
            let mut values: Vec<f64> = digits.iter().map(|&d| d as f64 / 10f64.powi(places)).collect();
            let special = [f64::NAN, -0.0, f64::INFINITY, f64::from_bits(0x7ff0_0000_0000_0002), f64::MIN_POSITIVE];
            for (at, which) in specials {
                let i = at.index(values.len());
                values[i] = special[which];
            }
            round_trip(&values);
        }
    }
}
