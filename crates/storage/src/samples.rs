//! The sample-level rules every path (buffer, flush, merge, query) applies identically,
//! so results never depend on write order, flush timing or merge history.
//!
//! * Same timestamp: the greater value under IEEE-754 total order (`f64::total_cmp`)
//!   wins. The rule is commutative and associative, so replays and merges in any order
//!   converge on the same sample. A stale marker beats any finite value at the same
//!   timestamp (it is a positive NaN).
//! * `dedup_interval = d > 0`: like VictoriaMetrics' `-dedup.minScrapeInterval`, time is
//!   cut into intervals `(k*d - d, k*d]` and only the sample with the greatest
//!   timestamp of each interval is kept. Idempotent, so merges and queries may both apply it.

use tidemark_model::Sample;

/// Sorts by timestamp and collapses equal timestamps with the max-value rule.
pub(crate) fn sort_and_resolve(samples: &mut Vec<Sample>) {
    samples.sort_unstable_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then(a.value.total_cmp(&b.value))
    });
    // After the sort the winner is the last of each run of equal timestamps.
    let mut write = 0usize;
    for read in 0..samples.len() {
        let s = samples[read];
        if write > 0 && samples[write - 1].timestamp == s.timestamp {
            samples[write - 1] = s;
        } else {
            samples[write] = s;
            write += 1;
        }
    }
    samples.truncate(write);
}

/// The interval `(k*d - d, k*d]` a timestamp falls into, identified by `k`.
fn dedup_bucket(ts: i64, interval_ms: i64) -> i64 {
    // ceil(ts / d) for any sign of ts.
    -((-ts).div_euclid(interval_ms))
}

/// Keeps the last sample of each dedup interval. `samples` must be sorted and resolved.
pub(crate) fn apply_dedup_interval(samples: &mut Vec<Sample>, interval_ms: i64) {
    if interval_ms <= 0 || samples.len() < 2 {
        return;
    }
    let mut write = 0usize;
    for read in 0..samples.len() {
        let s = samples[read];
        if write > 0
            && dedup_bucket(samples[write - 1].timestamp, interval_ms)
                == dedup_bucket(s.timestamp, interval_ms)
        {
            samples[write - 1] = s;
        } else {
            samples[write] = s;
            write += 1;
        }
    }
    samples.truncate(write);
}

/// Keeps only samples with `start <= timestamp <= end`. `samples` must be sorted.
pub(crate) fn retain_range(samples: &mut Vec<Sample>, start: i64, end: i64) {
    let lo = samples.partition_point(|s| s.timestamp < start);
    let hi = samples.partition_point(|s| s.timestamp <= end);
    samples.truncate(hi);
    samples.drain(..lo.min(samples.len()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{is_stale_nan, STALE_NAN};

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    #[test]
    fn equal_timestamps_keep_the_greatest_value_in_any_order() {
        let mut a = vec![s(2, 1.0), s(1, 5.0), s(2, 3.0), s(1, -1.0)];
        let mut b = vec![s(1, -1.0), s(2, 3.0), s(1, 5.0), s(2, 1.0)];
        sort_and_resolve(&mut a);
        sort_and_resolve(&mut b);
        assert_eq!(a, vec![s(1, 5.0), s(2, 3.0)]);
        assert_eq!(a, b);
    }

    #[test]
    fn stale_marker_wins_over_a_value_and_stays_bit_exact() {
        let mut v = vec![s(1, STALE_NAN), s(1, f64::INFINITY)];
        sort_and_resolve(&mut v);
        assert_eq!(v.len(), 1);
        assert!(is_stale_nan(v[0].value));
    }

    #[test]
    fn dedup_keeps_last_sample_per_interval() {
        let mut v = vec![
            s(0, 0.0),
            s(1, 1.0),
            s(10, 10.0),
            s(11, 11.0),
            s(19, 19.0),
            s(25, 25.0),
        ];
        apply_dedup_interval(&mut v, 10);
        // Intervals: (-10,0], (0,10], (10,20], (20,30].
        assert_eq!(v, vec![s(0, 0.0), s(10, 10.0), s(19, 19.0), s(25, 25.0)]);
        let before = v.clone();
        apply_dedup_interval(&mut v, 10);
        assert_eq!(v, before, "dedup is idempotent");
        let mut neg = vec![s(-15, 1.0), s(-11, 2.0), s(-10, 3.0)];
        apply_dedup_interval(&mut neg, 10);
        assert_eq!(neg, vec![s(-10, 3.0)]);
    }

    #[test]
    fn range_filter_is_inclusive() {
        let mut v = vec![s(1, 0.0), s(2, 0.0), s(3, 0.0), s(4, 0.0)];
        retain_range(&mut v, 2, 3);
        assert_eq!(v, vec![s(2, 0.0), s(3, 0.0)]);
        retain_range(&mut v, 10, 20);
        assert!(v.is_empty());
    }
}
