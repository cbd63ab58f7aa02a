//! Range queries (evaluated series-major where possible) must equal instant
//! queries at each step (always step-major): values bit for bit, labels, and the
//! union of the annotations.

use std::sync::atomic::{AtomicUsize, Ordering};

use tidemark_model::{is_stale_nan, Labels, Matcher, Sample, STALE_NAN};

use super::test_store::{instant_points, range_points, Mem};
use crate::{Engine, EngineOptions, QueryError, Queryable, SelectedSeries, SeriesBatches};

/// Enough series for several parallel chunks, enough steps for several blocks.
const SERIES: usize = 300;
const STEPS: i64 = 150;
const STEP_MS: i64 = 10_000;

/// Counters with resets, gaps and stale markers, and gauges, on jittered scrapes.
fn fleet() -> Mem {
    let mut out = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..SERIES {
        let labels = |name: &str| {
            Labels::from_pairs([
                ("__name__", name.to_string()),
                ("i", i.to_string()),
                ("grp", (i % 7).to_string()),
            ])
        };
        let mut counter = Vec::new();
        let mut gauge = Vec::new();
        let mut value = 0.0;
        let mut t = (next() % 15_000) as i64;
        while t < STEPS * STEP_MS {
            let r = next();
            if r % 97 == 0 {
                value = 0.0; // counter reset
            }
            value += (r % 1000) as f64 / 10.0;
            if r % 89 == 0 {
                counter.push(Sample::new(t, STALE_NAN));
            } else if r % 23 != 0 {
                counter.push(Sample::new(t, value));
            }
            gauge.push(Sample::new(t, (r % 5000) as f64 - 2500.0));
            // Mostly 15 s apart, sometimes a long gap.
            t += if r % 61 == 0 { 400_000 } else { 15_000 };
        }
        out.push(SelectedSeries {
            labels: labels("c_total").into(),
            floats: counter,
            ..SelectedSeries::default()
        });
        out.push(SelectedSeries {
            labels: labels("g").into(),
            floats: gauge,
            ..SelectedSeries::default()
        });
    }
    Mem(out)
}

#[test]
fn range_queries_equal_instant_queries_at_every_step() {
    let db = fleet();
    let queries = [
        "c_total",
        "g offset 1m",
        "g @ 300",
        "rate(c_total[1m])",
        "irate(c_total[1m])",
        "increase(c_total[2m] offset 30s)",
        "rate(g[1m])",
        "delta(g[2m])",
        "increase(c_total[5m] @ 600)",
        "sum by(grp)(increase(c_total[90s] offset -30s))",
        "resets(c_total[5m])",
        "quantile_over_time(0.5, g[1m])",
        "predict_linear(g[2m], 60)",
        "last_over_time(g[1m])",
        "avg by(grp)(rate(c_total[1m]))",
        "100 * (1 - avg by(grp)(rate(c_total[1m])))",
        "sum(c_total)",
        "sum by(grp)(rate(c_total[1m]) + rate(c_total[1m] offset 1m))",
        "max by(grp)(max_over_time(g[3m]))",
        "min without(i)(g)",
        "stddev by(grp)(g)",
        "stdvar(g)",
        "group by(grp)(c_total)",
        "count(count(g) by (grp))",
        "sum by(i)(irate(c_total[30s]))",
        "g / on(i, grp) c_total",
        "sum(rate(c_total[1m])) / count(c_total)",
        "rate(c_total[1m:20s])",
        // Binary operations and aggregations over them (series_major_binary.rs).
        "g - c_total",
        "rate(c_total[1m]) + rate(c_total[1m] offset 1m)",
        "100 * (1 - g / c_total)",
        "100 - (g * 100 / c_total)",
        "g > c_total",
        "g <= bool c_total",
        "g < on(i) g offset 1m",
        "g atan2 ignoring(grp) c_total",
        "2 > g",
        "g >= bool 0",
        "2 ^ (g % 7)",
        "-1 * g",
        "max by(grp)(g * 2 + 1)",
        "avg by(grp)(g > 0)",
        "stddev(rate(c_total[1m]) * 3)",
        "min without(i)(g - g offset 1m)",
        "group by(grp)(c_total > bool 100)",
        "sum(sum by(grp)(g > 1000) * 2)",
        "count(sum by(grp)(g > 2000))",
        "sum by(__name__)(g > 0)",
        "sum by(__name__, grp)(g * 1)",
        "(g + 1) == bool (g + 1)",
    ];
    for q in queries {
        let (range, range_notes) = range_points(&db, q, (STEPS - 1) * STEP_MS, STEP_MS);
        let (instants, instant_notes) = instant_points(&db, q, (STEPS - 1) * STEP_MS, STEP_MS);
        assert!(!range.is_empty(), "{q}: empty result tests nothing");
        assert_eq!(range, instants, "{q}: values differ");
        assert_eq!(range_notes, instant_notes, "{q}: annotations differ");
    }
}

#[test]
fn ambiguous_matches_fail_as_step_by_step() {
    let db = fleet();
    for q in [
        "g / on(grp) c_total",
        "sum by(grp)(g + ignoring(i) c_total)",
    ] {
        let range = Engine::default()
            .range_query(&db, q, 0, (STEPS - 1) * STEP_MS, STEP_MS)
            .expect_err(q);
        // The range query fails with the first failing step's error.
        let instant = (0..STEPS)
            .find_map(|k| Engine::default().instant_query(&db, q, k * STEP_MS).err())
            .expect(q);
        assert_eq!(range, instant, "{q}");
    }
}

/// A [`Mem`] that counts how its series are selected.
struct Counting {
    db: Mem,
    whole: AtomicUsize,
    batched: AtomicUsize,
}

impl Queryable for Counting {
    fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        self.whole.fetch_add(1, Ordering::Relaxed);
        self.db.select(matchers, start, end)
    }

    fn select_batches(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Box<dyn SeriesBatches + '_>, QueryError> {
        self.batched.fetch_add(1, Ordering::Relaxed);
        self.db.select_batches(matchers, start, end)
    }
}

#[test]
fn fused_aggregations_stream_their_series_with_step_major_results() {
    let db = Counting {
        db: fleet(),
        whole: AtomicUsize::new(0),
        batched: AtomicUsize::new(0),
    };
    // More series than one batch holds, so batches are folded one after another.
    for q in [
        "100 * (1 - avg by(grp)(rate(c_total[1m])))",
        "sum(g)",
        "max by(grp)(max_over_time(g[3m]))",
        "stddev without(i)(increase(c_total[2m] offset 30s))",
    ] {
        db.whole.store(0, Ordering::Relaxed);
        db.batched.store(0, Ordering::Relaxed);
        let (range, range_notes) = range_points(&db, q, (STEPS - 1) * STEP_MS, STEP_MS);
        assert_eq!(db.whole.load(Ordering::Relaxed), 0, "{q}: selected whole");
        assert_eq!(db.batched.load(Ordering::Relaxed), 1, "{q}: not streamed");
        let (instants, instant_notes) = instant_points(&db.db, q, (STEPS - 1) * STEP_MS, STEP_MS);
        assert!(!range.is_empty(), "{q}: empty result tests nothing");
        assert_eq!(range, instants, "{q}: values differ");
        assert_eq!(range_notes, instant_notes, "{q}: annotations differ");
    }
}

#[test]
fn streamed_series_count_against_the_sample_limit() {
    let db = fleet();
    let q = "sum by(grp)(rate(c_total[1m]))";
    let engine = |max_samples| {
        Engine::new(EngineOptions {
            max_samples,
            ..EngineOptions::default()
        })
    };
    let end = (STEPS - 1) * STEP_MS;
    let samples: usize = db
        .select(&[Matcher::equal("__name__", "c_total")], -59_999, end)
        .unwrap()
        .iter()
        .map(|s| s.floats.iter().filter(|x| !is_stale_nan(x.value)).count())
        .sum();
    assert!(engine(samples).range_query(&db, q, 0, end, STEP_MS).is_ok());
    let err = engine(samples - 1)
        .range_query(&db, q, 0, end, STEP_MS)
        .unwrap_err();
    assert_eq!(err, super::too_many_samples());
}
