//! Start timestamps from the [`Queryable`] reaching the counter functions
//! (start_timestamps.test in the conformance suite covers the numbers in depth).

use tidemark_model::{Labels, Matcher, Sample, STALE_NAN};

use crate::{Engine, EngineOptions, QueryError, Queryable, SelectedSeries, Value};

const M: i64 = 60_000;

/// One series whose samples carry the given start timestamps.
struct WithStarts {
    floats: Vec<Sample>,
    starts: Vec<i64>,
}

impl Queryable for WithStarts {
    fn select(
        &self,
        _: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        let keep: Vec<usize> = (0..self.floats.len())
            .filter(|&i| (start..=end).contains(&self.floats[i].timestamp))
            .collect();
        Ok(vec![SelectedSeries {
            labels: Labels::from_pairs([("__name__", "requests_total")]).into(),
            floats: keep.iter().map(|&i| self.floats[i]).collect(),
            float_start_timestamps: keep
                .iter()
                .filter_map(|&i| self.starts.get(i).copied())
                .collect(),
            ..SelectedSeries::default()
        }])
    }
}

/// A delta-style counter: 60 every minute from 1m, each sample started a minute
/// before it was taken (or with no start timestamps at all).
fn deltas(with_starts: bool) -> WithStarts {
    let floats: Vec<Sample> = (1..=10).map(|i| Sample::new(i * M, 60.0)).collect();
    let starts = if with_starts {
        floats.iter().map(|s| s.timestamp - M).collect()
    } else {
        Vec::new()
    };
    WithStarts { floats, starts }
}

fn value_at(db: &WithStarts, q: &str, t: i64) -> (Option<f64>, Vec<String>) {
    let r = Engine::new(EngineOptions::default())
        .instant_query(db, q, t)
        .expect("query");
    match r.value {
        Value::Vector(v) => (v.first().map(|s| s.f), r.warnings),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn start_timestamps_turn_delta_samples_into_increases() {
    // Without start timestamps a constant series does not increase.
    assert_eq!(
        value_at(&deltas(false), "increase(requests_total[5m])", 10 * M).0,
        Some(0.0)
    );
    let (v, warnings) = value_at(&deltas(true), "increase(requests_total[5m])", 10 * M);
    assert_eq!(v, Some(300.0));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        value_at(&deltas(true), "irate(requests_total[5m])", 10 * M).0,
        Some(1.0)
    );
    assert_eq!(
        value_at(&deltas(true), "resets(requests_total[5m])", 10 * M).0,
        Some(4.0)
    );
}

#[test]
fn subqueries_drop_start_timestamps() {
    let (v, _) = value_at(&deltas(true), "increase(requests_total[5m:1m])", 10 * M);
    assert_eq!(v, Some(0.0));
}

#[test]
fn stale_markers_leave_start_timestamps_aligned() {
    let mut db = deltas(true);
    // A stale marker at 9m30s (start unknown) is dropped from the window; the 10m
    // sample must keep its own start timestamp, not inherit the marker's 0.
    db.floats.insert(9, Sample::new(9 * M + 30_000, STALE_NAN));
    db.starts.insert(9, 0);
    assert_eq!(
        value_at(&db, "increase(requests_total[5m])", 10 * M).0,
        Some(300.0)
    );
}

#[test]
fn overlapping_start_timestamps_warn_at_the_argument() {
    let mut db = deltas(true);
    // Every sample claims to have started two minutes back: intervals overlap.
    db.starts = db.floats.iter().map(|s| s.timestamp - 2 * M).collect();
    let (_, warnings) = value_at(&db, "rate(requests_total[3m])", 10 * M);
    assert_eq!(
        warnings,
        vec!["PromQL warning: sample has start time that overlaps with previous sample timestamp for metric \"requests_total\" (1:6)"]
    );
}

#[test]
fn start_timestamps_not_parallel_to_the_samples_are_ignored() {
    let mut db = deltas(true);
    db.starts.pop();
    assert_eq!(
        value_at(&db, "increase(requests_total[5m])", 10 * M).0,
        Some(0.0)
    );
}
