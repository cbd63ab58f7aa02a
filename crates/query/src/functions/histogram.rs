//! Classic (`le`-bucket) histogram kernels: `histogram_quantile(s)` and
//! `histogram_fraction` over cumulative buckets of one series group, and the
//! grouping of an instant vector's `_bucket` series into such groups.

use std::collections::HashMap;

use tidemark_model::Labels;

use super::annotations::bad_bucket_label_warning;

/// One cumulative bucket: observations `<= upper_bound`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The buckets of one classic histogram: the series' labels without `le`
/// (`__name__` is kept; the evaluator drops it from the result, so that two metric
/// names collapsing into one label set is reported as a duplicate).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketGroup {
    pub labels: Labels,
    pub buckets: Vec<Bucket>,
}

/// Groups float samples by their labels minus `le`, in first-seen order. Samples
/// whose `le` is missing or not a float are skipped with a warning text (one per
/// sample; the evaluator deduplicates and appends the argument position).
pub(crate) fn group_buckets<'a>(
    samples: impl IntoIterator<Item = (&'a Labels, f64)>,
) -> (Vec<BucketGroup>, Vec<String>) {
    let mut groups: Vec<BucketGroup> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (labels, count) in samples {
        let le = labels.get("le").unwrap_or("");
        let Some(upper_bound) = parse_go_float(le) else {
            warnings.push(bad_bucket_label_warning(labels.metric_name(), le));
            continue;
        };
        let key = labels.builder().delete("le").build();
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(BucketGroup {
                labels: key,
                buckets: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].buckets.push(Bucket { upper_bound, count });
    }
    (groups, warnings)
}

/// Go's `strconv.ParseFloat` for the values `le` labels carry (decimal and
/// scientific notation, `Inf`/`+Inf`/`-Inf`/`NaN` in any case); Go's rarely used hex
/// and underscore forms are not accepted.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Relative difference below which two neighbouring bucket counts are treated as
/// equal (floating-point noise from e.g. `rate` over the buckets).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// What [`bucket_quantile`] had to repair, for the evaluator's annotations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct MonotonicityFix {
    /// A real decrease between buckets was removed. The evaluator then emits
    /// "input to histogram_quantile needed to be fixed for monotonicity" (info).
    pub forced: bool,
    /// Differences too small to matter were silently evened out (no annotation).
    pub fixed_precision: bool,
    /// Lowest / highest upper bound at which a decrease was removed, and the largest
    /// removed decrease; meaningful only when `forced`.
    pub min_bucket: f64,
    pub max_bucket: f64,
    pub max_diff: f64,
}

/// `histogram_quantile(q, …)` over the buckets of one histogram, as Prometheus'
/// `BucketQuantile`: buckets are sorted by upper bound, duplicates merged, the
/// counts forced monotonic, and the rank linearly interpolated within its bucket.
///
/// Edge cases: NaN `q` → NaN; `q < 0` → −Inf; `q > 1` → +Inf; no `+Inf` bucket,
/// fewer than two buckets or zero observations → NaN. A rank in the `+Inf` bucket
/// gives the second-highest upper bound; in the lowest bucket it interpolates from
/// 0 when that bucket's bound is positive, else returns the bound itself.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, MonotonicityFix) {
    let mut fix = MonotonicityFix::default();
    if q.is_nan() {
        return (f64::NAN, fix);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, fix);
    }
    if q > 1.0 {
        return (f64::INFINITY, fix);
    }
    if !prepare(buckets) {
        return (f64::NAN, fix);
    }
    fix = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, fix);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, fix);
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last].partition_point(|bk| bk.count < rank);
    if b == last {
        return (buckets[last - 1].upper_bound, fix);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return (buckets[0].upper_bound, fix);
    }
    let bucket_end = buckets[b].upper_bound;
    let mut bucket_start = 0.0;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (
        bucket_start + (bucket_end - bucket_start) * (rank / count),
        fix,
    )
}

/// `histogram_fraction(lower, upper, …)`: the share of observations between the
/// bounds, interpolating linearly inside buckets. The lowest bucket starts at 0 if
/// its bound is positive, else at −Inf (and then contributes all or nothing).
/// NaN for no `+Inf` bucket, zero observations or a NaN bound; 0 if `lower >= upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if !prepare(buckets) {
        return f64::NAN;
    }
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let mut lower_rank = None;
    let mut upper_rank = None;
    for (i, b) in buckets.iter().enumerate() {
        let lower_bound = match i {
            0 if b.upper_bound <= 0.0 => f64::NEG_INFINITY,
            0 => 0.0,
            _ => buckets[i - 1].upper_bound,
        };
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (b.upper_bound - lower_bound)
            }
        };
        if lower_rank.is_none() && lower_bound >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lower_bound >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && lower_bound < lower && b.upper_bound > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && lower_bound < upper && b.upper_bound > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = b.count;
    }
    let clamp = |r: Option<f64>| match r {
        Some(r) if r <= count => r,
        _ => count,
    };
    (clamp(upper_rank) - clamp(lower_rank)) / count
}

/// Sorts by upper bound and merges equal bounds; false when the `+Inf` bucket is
/// missing (or there are no buckets at all). Buckets with a NaN bound (`le="NaN"`)
/// cannot be ordered and are dropped; Prometheus' result for them depends on its
/// sort's internals.
fn prepare(buckets: &mut Vec<Bucket>) -> bool {
    buckets.retain(|b| !b.upper_bound.is_nan());
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return false,
    }
    buckets.dedup_by(|next, kept| {
        if next.upper_bound == kept.upper_bound {
            kept.count += next.count;
            true
        } else {
            false
        }
    });
    true
}

/// Evens out negligible differences in either direction, then removes decreases
/// by carrying the last accepted count forward (the "envelope").
fn ensure_monotonic(buckets: &mut [Bucket]) -> MonotonicityFix {
    let mut fix = MonotonicityFix {
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        ..MonotonicityFix::default()
    };
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            fix.fixed_precision = true;
            continue;
        }
        if cur < prev {
            b.count = prev;
            fix.forced = true;
            fix.min_bucket = fix.min_bucket.min(b.upper_bound);
            fix.max_bucket = fix.max_bucket.max(b.upper_bound);
            fix.max_diff = fix.max_diff.max(prev - cur);
            continue;
        }
        prev = cur;
    }
    fix
}

/// Relative float comparison as Prometheus' `almost.Equal`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bk(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    fn close(a: f64, b: f64) {
        assert!(
            (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            "{a} != {b}"
        );
    }

    const INF: f64 = f64::INFINITY;

    // histograms.test, testhistogram "positive" buckets at 0.1, 0.2, +Inf holding
    // 50, 70, 100 (scaled): median lands in bucket 0.2.
    #[test]
    fn interpolates_within_bucket() {
        let mut b = bk(&[(0.1, 50.0), (0.2, 70.0), (INF, 100.0)]);
        close(bucket_quantile(0.5, &mut b).0, 0.1);
        close(bucket_quantile(0.6, &mut b).0, 0.15);
        // First bucket interpolates from zero.
        close(bucket_quantile(0.25, &mut b).0, 0.05);
        // Rank in +Inf bucket: second-highest bound.
        close(bucket_quantile(0.9, &mut b).0, 0.2);
    }

    #[test]
    fn edge_cases() {
        let mut b = bk(&[(0.1, 50.0), (INF, 100.0)]);
        assert!(bucket_quantile(f64::NAN, &mut b).0.is_nan());
        assert_eq!(bucket_quantile(-1.0, &mut b).0, f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.01, &mut b).0, INF);
        // Missing +Inf bucket.
        assert!(bucket_quantile(0.5, &mut bk(&[(0.1, 1.0), (0.2, 2.0)]))
            .0
            .is_nan());
        // Only the +Inf bucket.
        assert!(bucket_quantile(0.5, &mut bk(&[(INF, 3.0)])).0.is_nan());
        // No observations.
        assert!(bucket_quantile(0.5, &mut bk(&[(1.0, 0.0), (INF, 0.0)]))
            .0
            .is_nan());
        // A NaN bound is ignored rather than breaking the order.
        close(
            bucket_quantile(0.5, &mut bk(&[(f64::NAN, 3.0), (1.0, 2.0), (INF, 4.0)])).0,
            1.0,
        );
        // No buckets at all.
        assert!(bucket_quantile(0.5, &mut Vec::new()).0.is_nan());
        // Non-positive lowest bound is returned as is.
        close(
            bucket_quantile(0.1, &mut bk(&[(-1.0, 5.0), (0.0, 6.0), (INF, 10.0)])).0,
            -1.0,
        );
    }

    #[test]
    fn unsorted_and_duplicate_bounds() {
        // "Buckets with different representations of the same upper bound" are
        // merged by the evaluator into equal f64 bounds, which are summed here.
        let mut b = bk(&[(INF, 10.0), (0.2, 3.0), (0.1, 1.0), (0.2, 3.0)]);
        close(bucket_quantile(0.5, &mut b).0, 0.1 + 0.1 * (4.0 / 5.0));
        assert_eq!(b.len(), 3);
    }

    // histograms.test nonmonotonic_bucket at 50m: le 0.1→20, 1→10, 10→50, 100→40,
    // 1000→90, +Inf→80; q=0.01 → 0.0045, 0.5 → 8.5, 0.99 → 979.75, with an info.
    #[test]
    fn nonmonotonic_buckets_are_fixed_and_flagged() {
        let data = [
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (INF, 80.0),
        ];
        for (q, want) in [(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)] {
            let (v, fix) = bucket_quantile(q, &mut bk(&data));
            close(v, want);
            assert!(fix.forced);
            assert_eq!(
                (fix.min_bucket, fix.max_bucket, fix.max_diff),
                (1.0, INF, 10.0)
            );
        }
        let (_, fix) = bucket_quantile(0.5, &mut bk(&[(1.0, 1.0), (INF, 2.0)]));
        assert!(!fix.forced);
    }

    #[test]
    fn tiny_differences_are_ignored_silently() {
        let mut b = bk(&[(1.0, 10.0), (2.0, 10.0 - 1e-14), (INF, 10.0)]);
        let (v, fix) = bucket_quantile(0.5, &mut b);
        assert!(!fix.forced && fix.fixed_precision);
        close(v, 0.5);
    }

    // histograms.test: le="" and le="Hello World" are skipped with a warning;
    // different spellings of a bound ("0.1", "1e-1") land in one group.
    #[test]
    fn grouping_by_labels_without_le() {
        let l = |name: &str, le: &str| {
            Labels::from_pairs([("__name__", name), ("job", "a"), ("le", le)])
        };
        let samples = [
            (l("x_bucket", "0.1"), 1.0),
            (l("x_bucket", "1e-1"), 2.0),
            (l("x_bucket", "+Inf"), 5.0),
            (l("y_bucket", "Inf"), 7.0),
            (l("x_bucket", "Hello World"), 9.0),
            (
                Labels::from_pairs([("__name__", "x_bucket"), ("job", "a")]),
                3.0,
            ),
        ];
        let (groups, warnings) = group_buckets(samples.iter().map(|(l, v)| (l, *v)));
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].labels,
            Labels::from_pairs([("__name__", "x_bucket"), ("job", "a")])
        );
        assert_eq!(groups[0].buckets, bk(&[(0.1, 1.0), (0.1, 2.0), (INF, 5.0)]));
        assert_eq!(groups[1].buckets, bk(&[(INF, 7.0)]));
        assert_eq!(
            warnings,
            [
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"Hello World\" for metric name \"x_bucket\"",
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\" for metric name \"x_bucket\"",
            ]
        );
    }

    #[test]
    fn fractions() {
        let data = [(0.1, 50.0), (0.2, 70.0), (INF, 100.0)];
        close(bucket_fraction(0.0, 0.1, &mut bk(&data)), 0.5);
        close(
            bucket_fraction(f64::NEG_INFINITY, 0.15, &mut bk(&data)),
            0.6,
        );
        close(bucket_fraction(0.1, INF, &mut bk(&data)), 0.5);
        close(bucket_fraction(0.05, 0.15, &mut bk(&data)), 0.35);
        assert_eq!(bucket_fraction(0.2, 0.1, &mut bk(&data)), 0.0);
        assert!(bucket_fraction(f64::NAN, 0.1, &mut bk(&data)).is_nan());
        assert!(bucket_fraction(0.0, 0.1, &mut bk(&[(0.1, 1.0)])).is_nan());
        // A non-positive lowest bound makes the first bucket all-or-nothing.
        let neg = [(-1.0, 10.0), (1.0, 20.0), (INF, 20.0)];
        close(bucket_fraction(-5.0, 0.0, &mut bk(&neg)), 0.25);
    }
}
