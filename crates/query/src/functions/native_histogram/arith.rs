//! Native histogram arithmetic with Prometheus 3.x semantics: scaling, addition
//! and subtraction across differing layouts, and counter-reset hint merging.
//!
//! Two exponential histograms are combined at the lower of their schemas, with the
//! wider zero bucket (widened further when its edge would cut a populated bucket).
//! Two custom-bucket histograms with different bounds are combined on the bounds
//! they share, which Prometheus reports as "mismatched custom buckets were
//! reconciled". Exponential and custom buckets cannot be combined at all.

use tidemark_model::{CounterResetHint, FloatHistogram};

use super::buckets::{exponential_upper, from_map, to_map, uses_custom_buckets, BucketMap};

/// Why two histograms could not be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incompatible {
    /// One uses exponential buckets, the other custom buckets.
    MixedSchemas,
}

/// The result of adding or subtracting two histograms, with what Prometheus
/// reports about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Combined {
    pub h: FloatHistogram,
    /// One operand claimed a counter reset, the other claimed none.
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reduced to the shared ones.
    pub custom_buckets_reconciled: bool,
}

/// `h` with every count and the sum multiplied by `factor`. A negative factor
/// turns the result into a gauge (a counter cannot go negative).
pub(crate) fn scale(h: &FloatHistogram, factor: f64) -> FloatHistogram {
    let mut out = map_counts(h, |c| c * factor);
    if factor < 0.0 {
        out.counter_reset_hint = CounterResetHint::Gauge;
    }
    out
}

/// `h` with every count and the sum divided by `divisor`. Division by zero
/// leaves no buckets (as in Prometheus), only the infinite or NaN totals.
pub(crate) fn divide(h: &FloatHistogram, divisor: f64) -> FloatHistogram {
    let mut out = map_counts(h, |c| c / divisor);
    if divisor == 0.0 {
        out.positive_spans.clear();
        out.positive_buckets.clear();
        out.negative_spans.clear();
        out.negative_buckets.clear();
    }
    if divisor < 0.0 {
        out.counter_reset_hint = CounterResetHint::Gauge;
    }
    out
}

/// Applies `f` to count, sum, zero count and every bucket, keeping the layout
/// (buckets that become zero stay, so `0 * h` keeps its shape like Prometheus).
fn map_counts(h: &FloatHistogram, f: impl Fn(f64) -> f64) -> FloatHistogram {
    FloatHistogram {
        count: f(h.count),
        sum: f(h.sum),
        zero_count: f(h.zero_count),
        positive_buckets: h.positive_buckets.iter().map(|&c| f(c)).collect(),
        negative_buckets: h.negative_buckets.iter().map(|&c| f(c)).collect(),
        ..h.clone()
    }
}

/// `a + b`.
pub(crate) fn add(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, Incompatible> {
    combine(a, b, 1.0)
}

/// `a - b`. The result is a gauge histogram whatever the operands were.
pub(crate) fn sub(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, Incompatible> {
    let mut c = combine(a, b, -1.0)?;
    c.h.counter_reset_hint = CounterResetHint::Gauge;
    Ok(c)
}

/// Prometheus' hint merging for `a + b`; the flag reports a reset/not-reset clash.
pub(crate) fn merge_hints(a: CounterResetHint, b: CounterResetHint) -> (CounterResetHint, bool) {
    use CounterResetHint::*;
    match (a, b) {
        _ if a == b => (a, false),
        (Gauge, _) | (_, Gauge) => (Gauge, false),
        (Unknown, _) | (_, Unknown) => (Unknown, false),
        // CounterReset against NotCounterReset: nobody can tell.
        _ => (Unknown, true),
    }
}

/// Index → count maps of both bucket sides plus the zero bucket, so operands of
/// different layouts can be brought to a common one before combining.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub positive: BucketMap,
    pub negative: BucketMap,
}

impl Layout {
    pub(crate) fn of(h: &FloatHistogram) -> Layout {
        Layout {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: h.zero_count,
            positive: to_map(&h.positive_spans, &h.positive_buckets),
            negative: to_map(&h.negative_spans, &h.negative_buckets),
        }
    }

    /// Merges buckets pairwise into the coarser `schema` (lower or equal).
    pub(crate) fn reduce_to(&mut self, schema: i32) {
        if schema >= self.schema {
            return;
        }
        let shift = (self.schema - schema).min(31) as u32;
        let reduce = |m: &BucketMap| {
            let mut out = BucketMap::new();
            for (&i, &c) in m {
                *out.entry(((i - 1) >> shift) + 1).or_insert(0.0) += c;
            }
            out
        };
        self.positive = reduce(&self.positive);
        self.negative = reduce(&self.negative);
        self.schema = schema;
    }

    /// The zero count this layout would have with a zero bucket at least as wide
    /// as `threshold`, and the threshold actually needed: it grows to the upper
    /// bound of any populated bucket the requested edge would cut through.
    pub(crate) fn zero_count_for(&self, mut threshold: f64) -> (f64, f64) {
        if threshold <= self.zero_threshold {
            return (self.zero_count, self.zero_threshold);
        }
        loop {
            let before = threshold;
            let mut count = self.zero_count;
            for side in [&self.positive, &self.negative] {
                for (&i, &c) in side {
                    let lower = exponential_upper(self.schema, i - 1);
                    if lower >= threshold {
                        break;
                    }
                    count += c;
                    let upper = exponential_upper(self.schema, i);
                    if upper > threshold {
                        if c != 0.0 {
                            threshold = upper;
                        }
                        break;
                    }
                }
            }
            if threshold == before {
                return (count, threshold);
            }
        }
    }

    /// Widens the zero bucket to (at least) `threshold`, absorbing the buckets
    /// that fall inside it.
    pub(crate) fn widen_zero_bucket(&mut self, threshold: f64) {
        let (count, threshold) = self.zero_count_for(threshold);
        if threshold == self.zero_threshold {
            return;
        }
        let schema = self.schema;
        let outside = |i: &i32| exponential_upper(schema, *i - 1) >= threshold;
        self.positive.retain(|i, _| outside(i));
        self.negative.retain(|i, _| outside(i));
        self.zero_count = count;
        self.zero_threshold = threshold;
    }

    fn into_histogram(self, base: FloatHistogram) -> FloatHistogram {
        let (positive_spans, positive_buckets) = from_map(&self.positive);
        let (negative_spans, negative_buckets) = from_map(&self.negative);
        FloatHistogram {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            positive_spans,
            positive_buckets,
            negative_spans,
            negative_buckets,
            ..base
        }
    }
}

/// Brings two exponential layouts to the same schema and zero bucket.
pub(crate) fn align(a: &mut Layout, b: &mut Layout) {
    let schema = a.schema.min(b.schema);
    a.reduce_to(schema);
    b.reduce_to(schema);
    // Widening one side can force the other wider still; repeat until equal.
    for _ in 0..64 {
        if a.zero_threshold == b.zero_threshold {
            break;
        }
        let t = a.zero_threshold.max(b.zero_threshold);
        a.widen_zero_bucket(t);
        b.widen_zero_bucket(t);
    }
}

/// `a + sign·b` over a common layout.
fn combine(a: &FloatHistogram, b: &FloatHistogram, sign: f64) -> Result<Combined, Incompatible> {
    if uses_custom_buckets(a) != uses_custom_buckets(b) {
        return Err(Incompatible::MixedSchemas);
    }
    let (hint, counter_reset_collision) = merge_hints(a.counter_reset_hint, b.counter_reset_hint);
    let base = FloatHistogram {
        counter_reset_hint: hint,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        ..FloatHistogram::default()
    };
    if uses_custom_buckets(a) {
        return Ok(combine_custom(a, b, sign, base, counter_reset_collision));
    }
    let (mut la, mut lb) = (Layout::of(a), Layout::of(b));
    align(&mut la, &mut lb);
    la.zero_count += sign * lb.zero_count;
    for (target, source) in [
        (&mut la.positive, &lb.positive),
        (&mut la.negative, &lb.negative),
    ] {
        for (&i, &c) in source {
            *target.entry(i).or_insert(0.0) += sign * c;
        }
    }
    Ok(Combined {
        h: la.into_histogram(base),
        counter_reset_collision,
        custom_buckets_reconciled: false,
    })
}

fn combine_custom(
    a: &FloatHistogram,
    b: &FloatHistogram,
    sign: f64,
    base: FloatHistogram,
    counter_reset_collision: bool,
) -> Combined {
    let reconciled = a.custom_values != b.custom_values;
    let bounds: Vec<f64> = if reconciled {
        a.custom_values
            .iter()
            .copied()
            .filter(|x| b.custom_values.contains(x))
            .collect()
    } else {
        a.custom_values.clone()
    };
    let mut out = BucketMap::new();
    for (h, factor) in [(a, 1.0), (b, sign)] {
        for (i, c) in to_map(&h.positive_spans, &h.positive_buckets) {
            let target = if reconciled {
                rebucket_custom(&h.custom_values, &bounds, i)
            } else {
                i
            };
            *out.entry(target).or_insert(0.0) += factor * c;
        }
    }
    let (positive_spans, positive_buckets) = from_map(&out);
    Combined {
        h: FloatHistogram {
            schema: a.schema,
            positive_spans,
            positive_buckets,
            custom_values: bounds,
            ..base
        },
        counter_reset_collision,
        custom_buckets_reconciled: reconciled,
    }
}

/// The bucket of `to` (a subset of `from`'s bounds) that bucket `idx` of `from` falls in.
pub(crate) fn rebucket_custom(from: &[f64], to: &[f64], idx: i32) -> i32 {
    let upper = from
        .get(idx.max(0) as usize)
        .copied()
        .unwrap_or(f64::INFINITY);
    to.partition_point(|&b| b < upper) as i32
}

/// Bucket-wise equality after dropping empty buckets (Prometheus' `Equals` on
/// compacted histograms); NaN sums compare equal to NaN sums.
pub(crate) fn equal(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let same = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
    let non_empty =
        |m: BucketMap| -> Vec<(i32, f64)> { m.into_iter().filter(|(_, c)| *c != 0.0).collect() };
    a.schema == b.schema
        && a.zero_threshold == b.zero_threshold
        && same(a.zero_count, b.zero_count)
        && same(a.count, b.count)
        && same(a.sum, b.sum)
        && a.custom_values == b.custom_values
        && non_empty(to_map(&a.positive_spans, &a.positive_buckets))
            == non_empty(to_map(&b.positive_spans, &b.positive_buckets))
        && non_empty(to_map(&a.negative_spans, &a.negative_buckets))
            == non_empty(to_map(&b.negative_spans, &b.negative_buckets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::BucketSpan;

    fn exp(schema: i32, offset: i32, buckets: &[f64]) -> FloatHistogram {
        let count = buckets.iter().sum();
        FloatHistogram {
            schema,
            count,
            sum: count,
            positive_spans: vec![BucketSpan {
                offset,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    fn buckets(h: &FloatHistogram) -> Vec<(i32, f64)> {
        to_map(&h.positive_spans, &h.positive_buckets)
            .into_iter()
            .collect()
    }

    #[test]
    fn addition_reduces_to_the_lower_schema() {
        // Schema 1 buckets 1..=4 merge pairwise into schema 0 buckets 1 and 2.
        let a = exp(1, 1, &[1.0, 2.0, 3.0, 4.0]);
        let b = exp(0, 1, &[10.0]);
        let c = add(&a, &b).unwrap();
        assert_eq!(c.h.schema, 0);
        assert_eq!(buckets(&c.h), vec![(1, 13.0), (2, 7.0)]);
        assert_eq!(c.h.count, 20.0);
    }

    #[test]
    fn subtraction_gives_a_gauge_and_keeps_negative_buckets() {
        let a = exp(0, 0, &[1.0, 1.0]);
        let b = exp(0, 0, &[2.0, 1.0]);
        let c = sub(&a, &b).unwrap();
        assert_eq!(c.h.counter_reset_hint, CounterResetHint::Gauge);
        assert_eq!(buckets(&c.h), vec![(0, -1.0)]);
        assert_eq!(c.h.count, -1.0);
    }

    #[test]
    fn zero_bucket_widens_to_the_edge_of_a_cut_bucket() {
        let mut a = exp(0, 0, &[1.0, 2.0, 3.0]); // (0.5,1] (1,2] (2,4]
        a.zero_threshold = 0.5;
        let mut b = exp(0, 0, &[0.0]);
        b.zero_threshold = 1.5; // cuts (1,2], which is populated in `a`
        let c = add(&a, &b).unwrap();
        assert_eq!(c.h.zero_threshold, 2.0);
        assert_eq!(c.h.zero_count, 3.0);
        assert_eq!(buckets(&c.h), vec![(2, 3.0)]);
    }

    #[test]
    fn custom_buckets_reconcile_on_shared_bounds() {
        let mut a = exp(-53, 0, &[1.0, 2.0, 3.0]);
        a.custom_values = vec![1.0, 2.0];
        let mut b = exp(-53, 0, &[4.0, 5.0]);
        b.custom_values = vec![2.0];
        let c = add(&a, &b).unwrap();
        assert!(c.custom_buckets_reconciled);
        assert_eq!(c.h.custom_values, vec![2.0]);
        assert_eq!(buckets(&c.h), vec![(0, 7.0), (1, 8.0)]);
        let e = exp(0, 0, &[1.0]);
        assert_eq!(add(&a, &e), Err(Incompatible::MixedSchemas));
    }

    #[test]
    fn hints_merge_like_prometheus() {
        use CounterResetHint::*;
        assert_eq!(merge_hints(NotCounterReset, Gauge), (Gauge, false));
        assert_eq!(merge_hints(NotCounterReset, Unknown), (Unknown, false));
        assert_eq!(merge_hints(CounterReset, NotCounterReset), (Unknown, true));
        assert_eq!(
            merge_hints(NotCounterReset, NotCounterReset).0,
            NotCounterReset
        );
    }

    #[test]
    fn scaling_by_a_negative_factor_makes_a_gauge() {
        let h = exp(0, 0, &[1.0, 2.0]);
        let s = scale(&h, -2.0);
        assert_eq!(s.positive_buckets, vec![-2.0, -4.0]);
        assert_eq!(s.counter_reset_hint, CounterResetHint::Gauge);
        assert!(equal(&divide(&scale(&h, 3.0), 3.0), &h));
    }
}
