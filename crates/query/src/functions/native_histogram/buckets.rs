//! Bucket layout of native histograms: absolute bucket indices, bucket bounds and
//! the conversions between span-encoded buckets and index maps.
//!
//! Arithmetic works on index → count maps: it makes merging layouts (schema
//! reduction, zero-bucket widening, custom-bound reconciliation) simple, and the
//! result is re-encoded into spans once at the end.

use std::collections::BTreeMap;

use tidemark_model::{BucketSpan, FloatHistogram};

/// The schema number of custom-bucket (NHCB) histograms.
pub(crate) const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Absolute bucket index → count.
pub(crate) type BucketMap = BTreeMap<i32, f64>;

/// Whether `h` uses custom bucket bounds rather than exponential ones.
pub(crate) fn uses_custom_buckets(h: &FloatHistogram) -> bool {
    h.schema == CUSTOM_BUCKETS_SCHEMA
}

/// Decodes span-encoded buckets into an index map (later duplicates add up).
pub(crate) fn to_map(spans: &[BucketSpan], counts: &[f64]) -> BucketMap {
    let mut map = BucketMap::new();
    let mut idx = 0i32;
    let mut it = counts.iter();
    for span in spans {
        idx = idx.saturating_add(span.offset);
        for _ in 0..span.length {
            match it.next() {
                Some(&c) => *map.entry(idx).or_insert(0.0) += c,
                None => return map,
            }
            idx = idx.saturating_add(1);
        }
    }
    map
}

/// Encodes an index map as spans, leaving out empty buckets (Prometheus compacts
/// results the same way; empty buckets carry no information).
pub(crate) fn from_map(map: &BucketMap) -> (Vec<BucketSpan>, Vec<f64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut counts = Vec::new();
    let mut next: Option<i32> = None;
    for (&i, &c) in map {
        if c == 0.0 {
            continue;
        }
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == i => last.length += 1,
            _ => spans.push(BucketSpan {
                offset: i - next.unwrap_or(0),
                length: 1,
            }),
        }
        counts.push(c);
        next = Some(i + 1);
    }
    (spans, counts)
}

/// The upper bound of exponential bucket `idx` at `schema`: 2^(idx·2^-schema).
pub(crate) fn exponential_upper(schema: i32, idx: i32) -> f64 {
    if schema <= 0 {
        // Whole powers of two: exact.
        let exp = (idx as i64) << (-schema).min(62);
        return 2f64.powi(exp.clamp(-2000, 2000) as i32);
    }
    let per_octave = 1i64 << schema;
    let octave = (idx as i64).div_euclid(per_octave);
    let frac = (idx as i64).rem_euclid(per_octave);
    let within = (frac as f64 / per_octave as f64).exp2();
    within * 2f64.powi(octave.clamp(-2000, 2000) as i32)
}

/// `(lower, upper)` of bucket `idx` of a custom-bucket histogram: the first
/// bucket starts at -Inf, the last (index `bounds.len()`) ends at +Inf.
pub(crate) fn custom_bounds(bounds: &[f64], idx: i32) -> (f64, f64) {
    let lower = if idx <= 0 {
        f64::NEG_INFINITY
    } else {
        bounds
            .get(idx as usize - 1)
            .copied()
            .unwrap_or(f64::INFINITY)
    };
    let upper = if idx < 0 {
        f64::NEG_INFINITY
    } else {
        bounds.get(idx as usize).copied().unwrap_or(f64::INFINITY)
    };
    (lower, upper)
}

/// One bucket with its bounds, as the quantile and fraction estimators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
    /// The zero bucket of an exponential histogram (interpolated linearly).
    pub is_zero: bool,
}

/// Every bucket of `h` in ascending order of value: negative buckets from the most
/// negative, the zero bucket (exponential schemas only), then positive buckets.
/// Empty buckets are included as stored.
pub(crate) fn ascending_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    let pos = to_map(&h.positive_spans, &h.positive_buckets);
    if uses_custom_buckets(h) {
        for (&i, &c) in &pos {
            let (lower, upper) = custom_bounds(&h.custom_values, i);
            out.push(Bucket {
                lower,
                upper,
                count: c,
                is_zero: false,
            });
        }
        return out;
    }
    let neg = to_map(&h.negative_spans, &h.negative_buckets);
    for (&i, &c) in neg.iter().rev() {
        out.push(Bucket {
            lower: -exponential_upper(h.schema, i),
            upper: -exponential_upper(h.schema, i - 1),
            count: c,
            is_zero: false,
        });
    }
    if h.zero_threshold != 0.0 || h.zero_count != 0.0 {
        out.push(Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            count: h.zero_count,
            is_zero: true,
        });
    }
    for (&i, &c) in &pos {
        out.push(Bucket {
            lower: exponential_upper(h.schema, i - 1),
            upper: exponential_upper(h.schema, i),
            count: c,
            is_zero: false,
        });
    }
    out
}

/// Prometheus' `FloatHistogram.String()`, e.g.
/// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}` (empty buckets left
/// out); `count_values` uses it as the label value of a histogram.
pub(crate) fn describe(h: &FloatHistogram) -> String {
    use crate::functions::go_fmt::percent_g;
    let mut out = format!("{{count:{}, sum:{}", percent_g(h.count), percent_g(h.sum));
    for b in ascending_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let (open, close) = if b.is_zero {
            ('[', ']')
        } else if b.upper <= 0.0 {
            ('[', ')')
        } else {
            ('(', ']')
        };
        out.push_str(&format!(
            ", {open}{},{}{close}:{}",
            percent_g(b.lower),
            percent_g(b.upper),
            percent_g(b.count)
        ));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip_drops_empty_buckets_and_merges_spans() {
        let spans = [
            BucketSpan {
                offset: -2,
                length: 2,
            },
            BucketSpan {
                offset: 0,
                length: 2,
            },
            BucketSpan {
                offset: 3,
                length: 1,
            },
        ];
        let map = to_map(&spans, &[1.0, 2.0, 0.0, 4.0, 5.0]);
        assert_eq!(
            map.iter().map(|(i, c)| (*i, *c)).collect::<Vec<_>>(),
            vec![(-2, 1.0), (-1, 2.0), (0, 0.0), (1, 4.0), (5, 5.0)]
        );
        let (s, c) = from_map(&map);
        assert_eq!(c, vec![1.0, 2.0, 4.0, 5.0]);
        assert_eq!(to_map(&s, &c).len(), 4);
        assert_eq!(s[0].offset, -2);
        assert_eq!(s[1].offset, 1);
    }

    #[test]
    fn description_matches_prometheus() {
        let h = FloatHistogram {
            count: 20.0,
            sum: 10.0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.0, 2.0],
            negative_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            negative_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        assert_eq!(
            describe(&h),
            "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}"
        );
    }

    #[test]
    fn exponential_bounds_follow_the_schema() {
        assert_eq!(exponential_upper(0, 1), 2.0);
        assert_eq!(exponential_upper(0, 0), 1.0);
        assert_eq!(exponential_upper(0, -1), 0.5);
        assert_eq!(exponential_upper(-1, 1), 4.0);
        assert!((exponential_upper(1, 1) - 2f64.sqrt()).abs() < 1e-15);
        assert!((exponential_upper(2, -1) - 2f64.powf(-0.25)).abs() < 1e-15);
    }

    #[test]
    fn custom_bucket_bounds_are_open_at_both_ends() {
        let b = [1.0, 5.0];
        assert_eq!(custom_bounds(&b, 0), (f64::NEG_INFINITY, 1.0));
        assert_eq!(custom_bounds(&b, 1), (1.0, 5.0));
        assert_eq!(custom_bounds(&b, 2), (5.0, f64::INFINITY));
    }
}
