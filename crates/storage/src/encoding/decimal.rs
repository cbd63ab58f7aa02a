//! Lossless float → decimal conversion: `value == mantissa × 10^exponent`, exactly.
//!
//! Most monitoring values are integers or short decimals (`0.25`, `1234.5`). As
//! integers with one shared exponent they delta-encode into a byte or two. Unlike
//! VictoriaMetrics' conversion this one is lossless: a value is only converted if
//! [`decimal_to_f64`] gives back the identical bit pattern; all others (NaN, ±Inf,
//! -0.0, the stale marker, values needing more than 53 bits of mantissa) are
//! reported as exceptions and stored raw by the caller.

/// Exact powers of ten representable in an `f64` (10^22 is the last one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest |exponent| a block may use.
pub const MAX_EXPONENT: i32 = 22;

/// Mantissas stay below 2^53 so that `mantissa as f64` is exact, which makes the
/// decode a single correctly rounded multiply or divide.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0; // 2^53

/// A block's values as integers: `values[i] == decimal_to_f64(mantissas[i], exponent)`
/// except at the sorted indexes in `exceptions`, whose mantissas are filler chosen to
/// keep the integer sequence smooth.
#[derive(Debug, Default)]
pub struct DecimalBlock {
    pub exponent: i32,
    pub mantissas: Vec<i64>,
    pub exceptions: Vec<u32>,
}

/// Exact `10^k` for `k` ≤ [`MAX_EXPONENT`].
#[inline]
pub fn pow10(k: u32) -> f64 {
    POW10[k as usize]
}

/// The one formula both encoder and decoder use (the block decoder hoists the
/// exponent's sign and power out of its loop but performs the same single multiply
/// or divide). `exponent` must be within ±[`MAX_EXPONENT`].
#[inline(always)]
pub fn decimal_to_f64(mantissa: i64, exponent: i32) -> f64 {
    if exponent < 0 {
        mantissa as f64 / POW10[(-exponent) as usize]
    } else {
        mantissa as f64 * POW10[exponent as usize]
    }
}

/// Mantissa of `v` with `places` decimal places, if that reproduces `v` exactly.
#[inline]
fn mantissa_at(v: f64, places: usize) -> Option<i64> {
    let scaled = v * POW10[places];
    // ±Inf fail the comparison too.
    if scaled.is_nan() || scaled.abs() >= MAX_MANTISSA {
        return None;
    }
    // Round half away from zero without a libm call; a wrong rounding only means the
    // check below fails.
    let m = (scaled + 0.5f64.copysign(scaled)) as i64;
    (decimal_to_f64(m, -(places as i32)).to_bits() == v.to_bits()).then_some(m)
}

/// Converts `values` into `block`, or returns false when more than `max_exceptions`
/// values do not convert (the caller then uses another codec).
pub fn to_decimal(values: &[f64], max_exceptions: usize, block: &mut DecimalBlock) -> bool {
    block.mantissas.clear();
    block.exceptions.clear();
    block.mantissas.reserve(values.len());
    // Decimal places shared by the whole block; grows when a value needs more.
    let mut places = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if let Some(m) = mantissa_at(v, places) {
            block.mantissas.push(m);
            continue;
        }
        let more = (places + 1..POW10.len()).find_map(|p| mantissa_at(v, p).map(|m| (p, m)));
        match more {
            Some((p, m)) => {
                if !rescale(&mut block.mantissas, p - places) {
                    return false;
                }
                places = p;
                block.mantissas.push(m);
            }
            None => {
                if block.exceptions.len() >= max_exceptions {
                    return false;
                }
                block.exceptions.push(i as u32);
                block.mantissas.push(0);
            }
        }
    }
    block.exponent = if places == 0 {
        strip_common_trailing_zeros(&mut block.mantissas) as i32
    } else {
        -(places as i32)
    };
    fill_exceptions(block);
    verify(values, block)
}

/// Multiplies every mantissa by 10^extra; false if one would reach 2^53.
fn rescale(mantissas: &mut [i64], extra: usize) -> bool {
    let Some(factor) = 10i64.checked_pow(extra as u32) else {
        return mantissas.iter().all(|&m| m == 0);
    };
    let limit = (MAX_MANTISSA as i64) / factor;
    if mantissas.iter().any(|m| m.abs() >= limit) {
        return false;
    }
    mantissas.iter_mut().for_each(|m| *m *= factor);
    true
}

/// Divides out the largest power of ten common to all mantissas (large round
/// integers like byte sizes) and returns its exponent.
fn strip_common_trailing_zeros(mantissas: &mut [i64]) -> u32 {
    let mut zeros = 0u32;
    while zeros < MAX_EXPONENT as u32 && mantissas.iter().all(|m| m % 10 == 0) {
        if mantissas.iter().all(|&m| m == 0) {
            return 0;
        }
        mantissas.iter_mut().for_each(|m| *m /= 10);
        zeros += 1;
    }
    zeros
}

/// Gives each exception slot a mantissa continuing its neighbours' trend, so a
/// stale marker in a counter does not cost two large deltas.
fn fill_exceptions(block: &mut DecimalBlock) {
    let m = &mut block.mantissas;
    for (pos, &i) in block.exceptions.iter().enumerate() {
        let i = i as usize;
        m[i] = match i {
            0 => first_regular(&block.exceptions[pos..], m),
            1 => m[0],
            _ => m[i - 1].wrapping_mul(2).wrapping_sub(m[i - 2]),
        };
    }
}

/// Mantissa of the first index not in `exceptions` (which starts at index 0).
fn first_regular(exceptions: &[u32], mantissas: &[i64]) -> i64 {
    let first_gap = exceptions
        .iter()
        .enumerate()
        .find(|&(k, &i)| i as usize != k)
        .map_or(exceptions.len(), |(k, _)| k);
    mantissas.get(first_gap).copied().unwrap_or(0)
}

/// Belt and braces: the conversion is exact by construction, but losing data is not
/// an option, so every regular value is checked with the decoder's own formula.
fn verify(values: &[f64], block: &DecimalBlock) -> bool {
    let mut exceptions = block.exceptions.iter().peekable();
    values
        .iter()
        .zip(&block.mantissas)
        .enumerate()
        .all(|(i, (v, &m))| {
            if exceptions.peek() == Some(&&(i as u32)) {
                exceptions.next();
                return true;
            }
            decimal_to_f64(m, block.exponent).to_bits() == v.to_bits()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn convert(values: &[f64]) -> Option<DecimalBlock> {
        let mut block = DecimalBlock::default();
        to_decimal(values, values.len() / 4, &mut block).then_some(block)
    }

    #[test]
    fn short_decimals_share_an_exponent() {
        let b = convert(&[1.5, 2.25, 3.0, 1.1]).unwrap();
        assert_eq!(b.exponent, -2);
        assert_eq!(b.mantissas, vec![150, 225, 300, 110]);
        assert!(b.exceptions.is_empty());
    }

    #[test]
    fn round_integers_get_a_positive_exponent() {
        let b = convert(&[1_000_000.0, 3_000_000.0, 12_000_000.0]).unwrap();
        assert_eq!(b.exponent, 6);
        assert_eq!(b.mantissas, vec![1, 3, 12]);
    }

    #[test]
    fn special_values_become_exceptions_with_smooth_filler() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let values = [1.0, 2.0, 3.0, 4.0, stale, 6.0, 7.0, 8.0];
        let b = convert(&values).unwrap();
        assert_eq!(b.exceptions, vec![4]);
        assert_eq!(b.mantissas, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let values = [-0.0, 5.0, 6.0, 7.0];
        let b = convert(&values).unwrap();
        assert_eq!(b.exceptions, vec![0]);
        assert_eq!(b.mantissas[0], 5);
    }

    #[test]
    fn non_decimal_values_are_refused() {
        let values: Vec<f64> = (1..20).map(|i| 1.0 / i as f64 + 1e-7).collect();
        assert!(convert(&values).is_none());
        assert!(convert(&[f64::NAN]).is_none());
        // 0.30000000000000004 needs 17 digits, more than 53 bits: stored raw.
        assert!(convert(&[0.1 + 0.2, 1.0, 2.0, 3.0]).is_some_and(|b| b.exceptions == vec![0]));
    }

    #[test]
    fn mantissa_overflow_on_rescale_is_refused() {
        assert!(convert(&[9.0e15, 0.001, 1.0, 2.0]).is_none());
    }

    proptest! {
        #[test]
        fn converted_values_are_bit_exact(
            digits in prop::collection::vec(-10_000_000i64..10_000_000, 1..100),
            places in 0u32..8,
        ) {
            let values: Vec<f64> =
                digits.iter().map(|&d| d as f64 / 10f64.powi(places as i32)).collect();
            let b = convert(&values).expect("short decimals convert");
            prop_assert!(b.exceptions.is_empty());
            for (v, &m) in values.iter().zip(&b.mantissas) {
                prop_assert_eq!(decimal_to_f64(m, b.exponent).to_bits(), v.to_bits());
            }
        }

        #[test]
        fn arbitrary_bits_never_convert_wrongly(bits in prop::collection::vec(any::<u64>(), 1..50)) {
            let values: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
            let mut block = DecimalBlock::default();
            if to_decimal(&values, values.len(), &mut block) {
                for (i, (v, &m)) in values.iter().zip(&block.mantissas).enumerate() {
                    if !block.exceptions.contains(&(i as u32)) {
                        prop_assert_eq!(decimal_to_f64(m, block.exponent).to_bits(), v.to_bits());
                    }
                }
            }
        }
    }
}
