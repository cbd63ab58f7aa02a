//! The sample rules of [`crate::samples`], for histogram samples.
//!
//! * Same timestamp: the *greatest* histogram wins under a fixed total order:
//!   `count`, then `sum`, `zero_count` (all by IEEE-754 total order), then schema,
//!   zero threshold, counter reset hint, spans, bucket counts and custom bounds.
//!   As with floats the rule is a maximum, so it is commutative and associative and
//!   replays and merges in any order converge on the same sample. For a counter the
//!   later-written duplicate usually has the higher count, so it usually wins.
//! * `dedup_interval`: the last sample of each interval `(k*d - d, k*d]` is kept,
//!   exactly like floats.

use std::cmp::Ordering;

use tidemark_model::{BucketSpan, FloatHistogram, HistogramSample};

fn cmp_floats(a: &[f64], b: &[f64]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

fn span_key(spans: &[BucketSpan]) -> impl Iterator<Item = (i32, u32)> + '_ {
    spans.iter().map(|s| (s.offset, s.length))
}

/// The total order behind the same-timestamp rule.
pub(crate) fn cmp_histograms(a: &FloatHistogram, b: &FloatHistogram) -> Ordering {
    a.count
        .total_cmp(&b.count)
        .then_with(|| a.sum.total_cmp(&b.sum))
        .then_with(|| a.zero_count.total_cmp(&b.zero_count))
        .then_with(|| a.schema.cmp(&b.schema))
        .then_with(|| a.zero_threshold.total_cmp(&b.zero_threshold))
        .then_with(|| (a.counter_reset_hint as u8).cmp(&(b.counter_reset_hint as u8)))
        .then_with(|| span_key(&a.positive_spans).cmp(span_key(&b.positive_spans)))
        .then_with(|| cmp_floats(&a.positive_buckets, &b.positive_buckets))
        .then_with(|| span_key(&a.negative_spans).cmp(span_key(&b.negative_spans)))
        .then_with(|| cmp_floats(&a.negative_buckets, &b.negative_buckets))
        .then_with(|| cmp_floats(&a.custom_values, &b.custom_values))
}

/// Sorts by timestamp and keeps the greatest histogram of each timestamp.
pub(crate) fn sort_and_resolve(samples: &mut Vec<HistogramSample>) {
    if samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp) {
        return;
    }
    samples.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| cmp_histograms(&a.histogram, &b.histogram))
    });
    keep_last_per_key(samples, |s| s.timestamp);
}

/// Keeps the last sample of each run of equal `key`s (the input is sorted by key).
fn keep_last_per_key(samples: &mut Vec<HistogramSample>, key: impl Fn(&HistogramSample) -> i64) {
    let mut write = 0usize;
    for read in 0..samples.len() {
        if write > 0 && key(&samples[write - 1]) == key(&samples[read]) {
            samples.swap(write - 1, read);
        } else {
            samples.swap(write, read);
            write += 1;
        }
    }
    samples.truncate(write);
}

/// Keeps the last sample of each dedup interval. `samples` must be sorted and resolved.
pub(crate) fn apply_dedup_interval(samples: &mut Vec<HistogramSample>, interval_ms: i64) {
    if interval_ms <= 0 || samples.len() < 2 {
        return;
    }
    // The interval (k*d - d, k*d] a timestamp falls into, identified by k = ceil(ts / d).
    keep_last_per_key(samples, |s| -((-s.timestamp).div_euclid(interval_ms)));
}

/// Keeps only samples with `start <= timestamp <= end`. `samples` must be sorted.
pub(crate) fn retain_range(samples: &mut Vec<HistogramSample>, start: i64, end: i64) {
    let lo = samples.partition_point(|s| s.timestamp < start);
    let hi = samples.partition_point(|s| s.timestamp <= end);
    samples.truncate(hi);
    samples.drain(..lo.min(samples.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: i64, count: f64, sum: f64) -> HistogramSample {
        HistogramSample {
            timestamp: t,
            histogram: FloatHistogram {
                count,
                sum,
                ..Default::default()
            },
        }
    }

    #[test]
    fn equal_timestamps_keep_the_greatest_histogram_in_any_order() {
        let mut a = vec![
            h(2, 1.0, 0.0),
            h(1, 5.0, 1.0),
            h(2, 3.0, 0.0),
            h(1, 5.0, 2.0),
        ];
        let mut b = a.clone();
        b.reverse();
        sort_and_resolve(&mut a);
        sort_and_resolve(&mut b);
        assert_eq!(a, vec![h(1, 5.0, 2.0), h(2, 3.0, 0.0)]);
        assert_eq!(a, b);
    }

    #[test]
    fn dedup_and_range_match_the_float_rules() {
        let mut v = vec![
            h(0, 0.0, 0.0),
            h(1, 1.0, 0.0),
            h(10, 2.0, 0.0),
            h(19, 3.0, 0.0),
        ];
        apply_dedup_interval(&mut v, 10);
        let ts: Vec<i64> = v.iter().map(|s| s.timestamp).collect();
        assert_eq!(ts, vec![0, 10, 19]);
        retain_range(&mut v, 1, 10);
        assert_eq!(v, vec![h(10, 2.0, 0.0)]);
    }
}
