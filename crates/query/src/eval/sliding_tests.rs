//! Range functions whose windows slide across steps (functions/sliding.rs) must
//! give range queries exactly what instant queries (step-major, each window cut
//! and scanned afresh) give at each step: values bit for bit, labels, annotations.

use tidemark_model::{Labels, Sample, STALE_NAN};

use super::test_store::{instant_points, range_points, Mem};
use crate::functions::test_support::RANGE_FUNCTIONS;
use crate::SelectedSeries;

const SERIES: usize = 120;
/// Scrape interval of the generated series.
const SCRAPE_MS: i64 = 15_000;
const END_MS: i64 = 1_800_000;

/// Counters with resets and gauges with NaN, ±0, repeats and ±Inf, on jittered
/// scrapes with stale markers and gaps longer than the windows.
fn fleet() -> Mem {
    let mut rng = 0x5851_f42d_4c95_7f2d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::new();
    for i in 0..SERIES {
        let labels = |name: &str| {
            Labels::from_pairs([
                ("__name__", name.to_string()),
                ("i", i.to_string()),
                ("grp", (i % 5).to_string()),
            ])
        };
        let (mut counter, mut gauge) = (Vec::new(), Vec::new());
        let mut value = 0.0;
        let mut t = (next() % SCRAPE_MS as u64) as i64;
        while t < END_MS {
            let r = next();
            if r % 53 == 0 {
                value = 0.0;
            }
            value += (r % 400) as f64 / 4.0;
            let g = match r % 29 {
                0 => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => f64::INFINITY,
                4..=12 => gauge.last().map_or(1.0, |s: &Sample| s.value),
                _ => (r % 200) as f64 - 100.0,
            };
            if r % 71 == 0 {
                counter.push(Sample::new(t, STALE_NAN));
                gauge.push(Sample::new(t, STALE_NAN));
            } else {
                counter.push(Sample::new(t, value));
                gauge.push(Sample::new(t, g));
            }
            t += match r % 67 {
                0 => 600_000,
                1 => 1,
                _ => SCRAPE_MS + (r % 2_000) as i64 - 1_000,
            };
        }
        for (name, floats) in [("c_total", counter), ("g", gauge)] {
            out.push(SelectedSeries {
                labels: labels(name).into(),
                floats,
                ..SelectedSeries::default()
            });
        }
    }
    Mem(out)
}

/// Every range function, as a query over `metric[range]`.
fn calls(metric: &str, range: &str) -> Vec<String> {
    RANGE_FUNCTIONS
        .iter()
        .map(|f| match *f {
            "quantile_over_time" => format!("{f}(0.25, {metric}[{range}])"),
            "predict_linear" => format!("{f}({metric}[{range}], 90)"),
            "double_exponential_smoothing" => format!("{f}({metric}[{range}], 0.3, 0.6)"),
            _ => format!("{f}({metric}[{range}])"),
        })
        .collect()
}

#[test]
fn sliding_range_functions_equal_instant_queries() {
    let db = fleet();
    // Steps below and above the scrape interval; windows from a few points to
    // many, shorter than some gaps; offsets and `@` move the reference times.
    let mut queries: Vec<(String, i64)> = Vec::new();
    for f in calls("g", "1m") {
        queries.push((f, 10_000));
    }
    for f in calls("c_total", "5m") {
        queries.push((f, 60_000));
    }
    queries.extend(
        [
            ("max_over_time(g[30m])", 30_000),
            ("min_over_time(g[7m] offset 2m)", 45_000),
            ("changes(g[3m] @ 900)", 30_000),
            ("resets(c_total[20s])", 10_000),
            ("irate(c_total[30s])", 75_000),
            ("sum by(grp)(irate(c_total[5m]))", 30_000),
            ("max by(grp)(max_over_time(g[10m]))", 30_000),
            ("count_over_time(g[1m]) * 2", 20_000),
        ]
        .map(|(q, step)| (q.to_string(), step)),
    );
    for (q, step) in &queries {
        let (range, range_notes) = range_points(&db, q, END_MS, *step);
        let (instants, instant_notes) = instant_points(&db, q, END_MS, *step);
        assert!(!range.is_empty(), "{q}: empty result tests nothing");
        assert_eq!(range, instants, "{q} step {step}: values differ");
        assert_eq!(range_notes, instant_notes, "{q}: annotations differ");
    }
}
