//! Statistics read off one native histogram: `histogram_quantile`,
//! `histogram_fraction`, `histogram_stddev`/`histogram_stdvar`.
//!
//! Inside exponential buckets values are assumed to be spread exponentially (so
//! interpolation is linear in log space); inside the zero bucket and custom buckets
//! linearly. NaN observations (a NaN sum) count towards `count` but sit in no
//! bucket; the callers turn the returned [`NanEffect`] into an info annotation.

use tidemark_model::FloatHistogram;

use super::buckets::{ascending_buckets, uses_custom_buckets, Bucket};
use crate::functions::kahan::kahan_inc;

/// How NaN observations affected a quantile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NanEffect {
    None,
    /// The quantile fell among the NaN observations: the result is NaN.
    ResultIsNaN,
    /// The quantile is estimated from the buckets, ignoring larger NaNs.
    SkewedHigher,
}

/// `histogram_quantile(q, h)` for a native histogram.
pub(crate) fn quantile(q: f64, h: &FloatHistogram) -> (f64, NanEffect) {
    if q < 0.0 {
        return (f64::NEG_INFINITY, NanEffect::None);
    }
    if q > 1.0 {
        return (f64::INFINITY, NanEffect::None);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, NanEffect::None);
    }
    let has_nan = h.sum.is_nan();
    let all: Vec<Bucket> = ascending_buckets(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
        .collect();
    // With NaNs the count includes observations in no bucket, so only walking
    // up from the bottom is right; otherwise walk from the nearer end.
    let forward = has_nan || q < 0.5;
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut found: Option<Bucket> = None;
    let order: Box<dyn Iterator<Item = &Bucket>> = if forward {
        Box::new(all.iter())
    } else {
        Box::new(all.iter().rev())
    };
    let mut last = None;
    for b in order {
        count += b.count;
        last = Some(*b);
        if count >= rank {
            found = Some(*b);
            break;
        }
    }
    let mut bucket = match found {
        Some(b) => b,
        None if has_nan => return (f64::NAN, NanEffect::ResultIsNaN),
        // Rounding left the rank just out of reach: the top bucket's bound.
        None => return (last.map_or(f64::NAN, |b| b.upper), NanEffect::None),
    };
    let effect = if has_nan {
        NanEffect::SkewedHigher
    } else {
        NanEffect::None
    };
    let custom = uses_custom_buckets(h);
    if bucket.is_zero {
        adjust_zero_bucket(h, &mut bucket);
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, effect);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, effect);
        }
    }
    count = count.min(h.count);
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    let fraction = rank / bucket.count;
    (interpolate(&bucket, custom, fraction), effect)
}

/// The value a `fraction` (0..=1) of the way through `b`'s observations.
fn interpolate(b: &Bucket, custom: bool, fraction: f64) -> f64 {
    if custom || b.is_zero || (b.lower <= 0.0 && b.upper >= 0.0) {
        return b.lower + (b.upper - b.lower) * fraction;
    }
    let (log_lower, log_upper) = (b.lower.abs().log2(), b.upper.abs().log2());
    if b.lower > 0.0 {
        (log_lower + (log_upper - log_lower) * fraction).exp2()
    } else {
        // Negative bucket: mirror the positive case.
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    }
}

/// The share of `b`'s observations at or below `v` (inside the bucket).
fn share_below(b: &Bucket, custom: bool, v: f64) -> f64 {
    if custom || b.is_zero || (b.lower <= 0.0 && b.upper >= 0.0) {
        if b.upper == f64::INFINITY {
            return 0.0;
        }
        return (v - b.lower) / (b.upper - b.lower);
    }
    let (l, u, x) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
    if b.lower > 0.0 {
        (x - l) / (u - l)
    } else {
        1.0 - (x - u) / (l - u)
    }
}

/// A zero bucket only spans the side of zero where the histogram has buckets.
fn adjust_zero_bucket(h: &FloatHistogram, b: &mut Bucket) {
    let has_pos = !h.positive_buckets.is_empty();
    let has_neg = !h.negative_buckets.is_empty();
    if has_pos && !has_neg {
        b.lower = 0.0;
    } else if has_neg && !has_pos {
        b.upper = 0.0;
    }
}

/// `histogram_fraction(lower, upper, h)`; the flag says NaN observations were
/// left out of every fraction (they still count in the denominator).
pub(crate) fn fraction(lower: f64, upper: f64, h: &FloatHistogram) -> (f64, bool) {
    let has_nan = h.sum.is_nan();
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, false);
    }
    if lower >= upper {
        return (0.0, has_nan);
    }
    let custom = uses_custom_buckets(h);
    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (None, None);
    for mut b in ascending_buckets(h) {
        if b.is_zero {
            adjust_zero_bucket(h, &mut b);
        }
        let whole_first = custom && b.lower == f64::NEG_INFINITY && b.upper <= 0.0;
        if custom && b.lower == f64::NEG_INFINITY && b.upper > 0.0 {
            b.lower = 0.0;
        }
        let at = |v: f64| {
            if whole_first {
                rank + b.count
            } else {
                rank + b.count * share_below(&b, custom, v)
            }
        };
        if lower_rank.is_none() && b.lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b.lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b.lower < lower && b.upper > lower {
            lower_rank = Some(at(lower));
        }
        if upper_rank.is_none() && b.lower < upper && b.upper > upper {
            upper_rank = Some(at(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += b.count;
    }
    // Ranks not reached lie above every bucket: everything in buckets is below.
    let clamp = |r: Option<f64>| r.unwrap_or(rank).min(h.count);
    ((clamp(upper_rank) - clamp(lower_rank)) / h.count, has_nan)
}

/// The variance of the observations in `h`, each bucket's observations taken
/// at a representative point: the geometric mean of exponential bucket bounds,
/// 0 for the zero bucket, the arithmetic mean for custom buckets.
pub(crate) fn variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = uses_custom_buckets(h);
    let (mut v, mut c) = (0.0, 0.0);
    for b in ascending_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let val = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let g = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -g
            } else {
                g
            }
        };
        let d = val - mean;
        (v, c) = kahan_inc(b.count * d * d, v, c);
    }
    (v + c) / h.count
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::BucketSpan;

    fn hist(schema: i32, buckets: &[f64], sum: f64, count: f64) -> FloatHistogram {
        FloatHistogram {
            schema,
            count,
            sum,
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn quantile_interpolates_exponentially_in_exponential_buckets() {
        // 20% NaN observations: 12 in (0.5, 1], 3 NaN.
        let h = hist(0, &[12.0], f64::NAN, 15.0);
        let (v, e) = quantile(0.4, &h);
        assert!((v - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(e, NanEffect::SkewedHigher);
        assert_eq!(quantile(0.8, &h).0, 1.0);
        let (v, e) = quantile(0.81, &h);
        assert!(v.is_nan());
        assert_eq!(e, NanEffect::ResultIsNaN);
        assert_eq!(quantile(-1.0, &h).0, f64::NEG_INFINITY);
    }

    #[test]
    fn fraction_is_the_inverse_of_quantile_and_excludes_nans() {
        let h = hist(0, &[12.0], f64::NAN, 15.0);
        let (f, nan) = fraction(f64::NEG_INFINITY, 0.5f64.sqrt(), &h);
        assert!((f - 0.4).abs() < 1e-12);
        assert!(nan);
        assert!((fraction(f64::NEG_INFINITY, f64::INFINITY, &h).0 - 0.8).abs() < 1e-12);
    }

    #[test]
    fn custom_buckets_interpolate_linearly_from_zero() {
        let mut h = hist(-53, &[2.0, 2.0], 3.0, 4.0);
        h.custom_values = vec![10.0];
        assert_eq!(quantile(0.25, &h).0, 5.0);
        assert_eq!(
            quantile(0.9, &h).0,
            10.0,
            "+Inf bucket gives its lower bound"
        );
        assert_eq!(fraction(0.0, 5.0, &h).0, 0.25);
    }

    #[test]
    fn variance_uses_geometric_bucket_means() {
        // All observations in (1, 2]: representative value sqrt(2); mean = sum/count.
        let h = hist(0, &[0.0, 4.0], 4.0 * 2f64.sqrt(), 4.0);
        assert!(variance(&h).abs() < 1e-12);
    }
}
