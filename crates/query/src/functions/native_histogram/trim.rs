//! The trim operators: `h </ x` keeps the observations below `x`, `h >/ x` those
//! above. A bucket cut by `x` keeps the share of its observations on the kept
//! side (interpolated exponentially in exponential buckets, linearly in the zero
//! bucket and custom buckets). The sum is re-estimated from the kept buckets,
//! each contributing its count times a representative value (geometric mean of
//! its kept bounds, arithmetic mean in the zero bucket and custom buckets); a
//! histogram that loses nothing is returned unchanged.

use tidemark_model::FloatHistogram;

use super::buckets::{
    custom_bounds, exponential_upper, from_map, to_map, uses_custom_buckets, BucketMap,
};

/// Which side of the cut survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// `</`
    Below,
    /// `>/`
    Above,
}

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Positive(i32),
    Negative(i32),
    Zero,
}

struct Piece {
    at: Where,
    lower: f64,
    upper: f64,
    count: f64,
    linear: bool,
}

/// `h </ cut` or `h >/ cut`.
pub(crate) fn trim(h: &FloatHistogram, cut: f64, keep: Keep) -> FloatHistogram {
    if cut.is_nan() {
        return h.clone();
    }
    let pieces = pieces(h, cut);
    let populated = pieces.iter().filter(|p| p.count != 0.0);
    let untouched = match keep {
        Keep::Below => populated.map(|p| p.upper).all(|u| u <= cut),
        Keep::Above => populated.map(|p| p.lower).all(|l| l >= cut),
    };
    if untouched {
        return h.clone();
    }
    let (mut pos, mut neg) = (BucketMap::new(), BucketMap::new());
    let (mut zero, mut count, mut sum) = (0.0, 0.0, 0.0);
    for p in &pieces {
        let (kept, value) = kept_part(p, cut, keep);
        if kept != 0.0 {
            count += kept;
            sum += kept * value;
        }
        match p.at {
            Where::Positive(i) => {
                pos.insert(i, kept);
            }
            Where::Negative(i) => {
                neg.insert(i, kept);
            }
            Where::Zero => zero = kept,
        }
    }
    let (positive_spans, positive_buckets) = from_map(&pos);
    let (negative_spans, negative_buckets) = from_map(&neg);
    FloatHistogram {
        count,
        sum,
        zero_count: zero,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        ..h.clone()
    }
}

/// How many of `p`'s observations survive, and the value they stand for.
fn kept_part(p: &Piece, cut: f64, keep: Keep) -> (f64, f64) {
    if p.count == 0.0 {
        return (0.0, 0.0);
    }
    let (open_low, open_high) = (p.lower == f64::NEG_INFINITY, p.upper == f64::INFINITY);
    // Buckets reaching to infinity cannot be interpolated: they are kept or
    // dropped whole, standing for the nearest finite bound (or the cut).
    match (open_low, open_high, keep) {
        (true, true, _) => return (0.0, 0.0),
        (true, false, Keep::Below) if cut > f64::NEG_INFINITY && p.upper <= 0.0 => {
            return (p.count, p.upper.min(cut))
        }
        (false, true, Keep::Above) if cut < f64::INFINITY => return (p.count, p.lower.max(cut)),
        (true, false, _) | (false, true, _) => return (0.0, 0.0),
        (false, false, _) => {}
    }
    let (lo, hi) = match keep {
        Keep::Below => (p.lower, p.upper.min(cut)),
        Keep::Above => (p.lower.max(cut), p.upper),
    };
    if hi <= lo {
        return (0.0, 0.0);
    }
    let kept = if lo == p.lower && hi == p.upper {
        p.count
    } else {
        p.count * share(p, lo, hi)
    };
    (kept, representative(p.linear, lo, hi))
}

/// Every bucket with its bounds; the zero bucket only reaches to the side of zero
/// where the histogram has buckets, as for quantiles. `cut` decides whether a
/// custom first bucket `(-Inf, u]` with `u > 0` counts as `[0, u]`.
fn pieces(h: &FloatHistogram, cut: f64) -> Vec<Piece> {
    let mut out = Vec::new();
    let pos = to_map(&h.positive_spans, &h.positive_buckets);
    if uses_custom_buckets(h) {
        for (&i, &c) in &pos {
            let (mut lower, upper) = custom_bounds(&h.custom_values, i);
            // A first bucket reaching above zero is taken to start at zero,
            // unless the cut lies below zero (then it cannot be split).
            if lower == f64::NEG_INFINITY && upper > 0.0 && upper != f64::INFINITY && cut >= 0.0 {
                lower = 0.0;
            }
            out.push(Piece {
                at: Where::Positive(i),
                lower,
                upper,
                count: c,
                linear: true,
            });
        }
        return out;
    }
    let neg = to_map(&h.negative_spans, &h.negative_buckets);
    let (mut zl, mut zu) = (-h.zero_threshold, h.zero_threshold);
    if !pos.is_empty() && neg.is_empty() {
        zl = 0.0;
    } else if pos.is_empty() && !neg.is_empty() {
        zu = 0.0;
    }
    out.push(Piece {
        at: Where::Zero,
        lower: zl,
        upper: zu,
        count: h.zero_count,
        linear: true,
    });
    for (&i, &c) in &pos {
        out.push(Piece {
            at: Where::Positive(i),
            lower: exponential_upper(h.schema, i - 1),
            upper: exponential_upper(h.schema, i),
            count: c,
            linear: false,
        });
    }
    for (&i, &c) in &neg {
        out.push(Piece {
            at: Where::Negative(i),
            lower: -exponential_upper(h.schema, i),
            upper: -exponential_upper(h.schema, i - 1),
            count: c,
            linear: false,
        });
    }
    out
}

/// The share of `p`'s observations within `[lo, hi]`.
fn share(p: &Piece, lo: f64, hi: f64) -> f64 {
    if p.linear {
        return (hi - lo) / (p.upper - p.lower);
    }
    let span = (p.upper.abs().log2() - p.lower.abs().log2()).abs();
    (hi.abs().log2() - lo.abs().log2()).abs() / span
}

fn representative(linear: bool, lo: f64, hi: f64) -> f64 {
    if linear {
        (lo + hi) / 2.0
    } else if hi < 0.0 {
        -(lo * hi).sqrt()
    } else {
        (lo * hi).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::BucketSpan;

    fn span(n: usize) -> Vec<BucketSpan> {
        vec![BucketSpan {
            offset: 0,
            length: n as u32,
        }]
    }

    /// native_histograms.test's `h_test`.
    fn h_test() -> FloatHistogram {
        FloatHistogram {
            sum: 123.75,
            count: 34.0,
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: span(4),
            positive_buckets: vec![2.0, 4.0, 8.0, 16.0],
            negative_spans: span(2),
            negative_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn cut_inside_a_bucket_interpolates_exponentially() {
        let t = trim(&h_test(), 2f64.sqrt(), Keep::Below);
        assert!((t.count - 8.0).abs() < 1e-9);
        assert!((t.sum - 0.2570938865989847).abs() < 1e-9, "{}", t.sum);
        let t = trim(&h_test(), 2f64.sqrt(), Keep::Above);
        assert!((t.count - 26.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_cut_returns_the_input_and_everything_cut_is_empty() {
        assert_eq!(trim(&h_test(), f64::INFINITY, Keep::Below), h_test());
        let t = trim(&h_test(), f64::INFINITY, Keep::Above);
        assert_eq!((t.count, t.sum, t.zero_count), (0.0, 0.0, 0.0));
    }

    #[test]
    fn custom_buckets_to_infinity_are_kept_or_dropped_whole() {
        // custom_values [0]: (-Inf, 0] holds 1, (0, +Inf] holds 100.
        let h = FloatHistogram {
            schema: -53,
            count: 101.0,
            sum: 33.0,
            custom_values: vec![0.0],
            positive_spans: span(2),
            positive_buckets: vec![1.0, 100.0],
            ..FloatHistogram::default()
        };
        let below = trim(&h, -10.0, Keep::Below);
        assert_eq!((below.count, below.sum), (1.0, -10.0));
        let above = trim(&h, 10.0, Keep::Above);
        assert_eq!((above.count, above.sum), (100.0, 1000.0));
        assert_eq!(trim(&h, -10.0, Keep::Above).count, 100.0);
    }

    #[test]
    fn zero_bucket_is_linear() {
        let h = FloatHistogram {
            count: 5.0,
            zero_count: 5.0,
            zero_threshold: 0.1,
            ..FloatHistogram::default()
        };
        let t = trim(&h, 0.05, Keep::Above);
        assert!((t.count - 1.25).abs() < 1e-12);
        assert!((t.sum - 0.09375).abs() < 1e-12);
    }
}
