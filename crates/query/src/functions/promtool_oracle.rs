//! Differential test of the range kernels against the Prometheus engine itself,
//! through `promtool test rules` (Debian's Prometheus 2.42 is the local oracle).
//!
//! 2.42 selects ranges left-closed where 3.x is left-open, so every evaluation time
//! is placed between samples, where both agree. The kernels did not change between
//! those versions except in rounding details, hence the 1e-9 relative tolerance.
//! Skipped with a message when promtool is missing, unless `CI` is set.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;

use super::{range_kernel, RangeMode, RangeWindow};
use crate::value::FPoint;

const INTERVAL_MS: i64 = 15_000;
const SAMPLES: usize = 64;
const RANGE_MS: i64 = 150_000;

/// Deterministic xorshift so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A counter with occasional resets and a gauge that wanders through negatives,
/// repeats values and jumps.
fn test_series() -> Vec<(&'static str, Vec<f64>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut counter = Vec::with_capacity(SAMPLES);
    let mut gauge = Vec::with_capacity(SAMPLES);
    let (mut c, mut g) = (5.0f64, 0.0f64);
    for _ in 0..SAMPLES {
        let r = rng.next();
        c = if r < 0.07 {
            (rng.next() * 4.0).floor()
        } else {
            c + (rng.next() * 20.0).floor() / 4.0
        };
        counter.push(c);
        let r = rng.next();
        if r > 0.2 {
            g += ((rng.next() - 0.55) * 400.0).round() / 8.0;
        }
        gauge.push(g);
    }
    vec![("oracle_counter", counter), ("oracle_gauge", gauge)]
}

/// `(PromQL function call template, our kernel name, scalar args)`; `{m}` is the
/// range selector.
const CASES: &[(&str, &str, &[f64])] = &[
    ("rate({m})", "rate", &[]),
    ("increase({m})", "increase", &[]),
    ("delta({m})", "delta", &[]),
    ("irate({m})", "irate", &[]),
    ("idelta({m})", "idelta", &[]),
    ("deriv({m})", "deriv", &[]),
    ("predict_linear({m}, 600)", "predict_linear", &[600.0]),
    ("resets({m})", "resets", &[]),
    ("changes({m})", "changes", &[]),
    ("avg_over_time({m})", "avg_over_time", &[]),
    ("sum_over_time({m})", "sum_over_time", &[]),
    ("min_over_time({m})", "min_over_time", &[]),
    ("max_over_time({m})", "max_over_time", &[]),
    ("count_over_time({m})", "count_over_time", &[]),
    ("last_over_time({m})", "last_over_time", &[]),
    ("stddev_over_time({m})", "stddev_over_time", &[]),
    ("stdvar_over_time({m})", "stdvar_over_time", &[]),
    ("quantile_over_time(0.3, {m})", "quantile_over_time", &[0.3]),
    (
        "holt_winters({m}, 0.3, 0.6)",
        "double_exponential_smoothing",
        &[0.3, 0.6],
    ),
];

/// Go's `time.Duration` text for whole seconds below one hour.
fn go_duration(ms: i64) -> String {
    let s = ms / 1000;
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn range_expr(template: &str, metric: &str) -> String {
    template.replace("{m}", &format!("{metric}[{}s]", RANGE_MS / 1000))
}

fn eval_times() -> Vec<i64> {
    // Between samples (7 s after one), from where a full range of data exists.
    (12..SAMPLES as i64 - 4)
        .step_by(3)
        .map(|i| i * INTERVAL_MS + 7_000)
        .collect()
}

/// Both empty, both NaN, or equal within 1e-9 relative (Go and Rust may round
/// the last bits of a float sum differently).
fn agree(ours: Option<f64>, theirs: Option<f64>) -> bool {
    match (ours, theirs) {
        (Some(a), Some(b)) => {
            (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        }
        (a, b) => a == b,
    }
}

/// Runs promtool on one file with the given input series (`series{labels}` text
/// and values every 15 s) and `(expression, time)` cases, and returns what it got
/// for each; `None` for "no result". `None` overall when promtool is unavailable.
fn promtool_results(
    series: &[(String, Vec<f64>)],
    cases: &[(String, i64)],
) -> Option<HashMap<(String, String), Option<f64>>> {
    let dir = tempfile::tempdir().expect("temp dir");
    // A 1 s evaluation interval makes promtool load input up to the exact times.
    let mut yml =
        String::from("evaluation_interval: 1s\ntests:\n  - interval: 15s\n    input_series:\n");
    for (name, values) in series {
        let vals: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        writeln!(
            yml,
            "      - series: '{name}'\n        values: '{}'",
            vals.join(" ")
        )
        .unwrap();
    }
    yml.push_str("    promql_expr_test:\n");
    for (expr, t) in cases {
        writeln!(
            yml,
            "      - expr: '{expr}'\n        eval_time: {}\n        exp_samples: []",
            go_duration(*t)
        )
        .unwrap();
    }
    let path = dir.path().join("oracle.yml");
    std::fs::write(&path, yml).expect("write promtool test file");
    let out = match Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required in CI: {e}"
            );
            eprintln!("skipping promtool oracle test: promtool not runnable ({e})");
            return None;
        }
    };
    // Every case "fails" (no samples were expected); the report lists what was got.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut results = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("expr: \"") {
            let (expr, rest) = rest.split_once("\", time: ").expect("promtool header");
            current = Some((expr.to_string(), rest.trim_end_matches(',').to_string()));
        } else if let Some(got) = line.strip_prefix("got: ") {
            let key = current.take().expect("got line after a header");
            let value = if got == "nil" {
                None
            } else {
                let v = got.rsplit(' ').next().expect("value");
                Some(
                    v.parse::<f64>()
                        .unwrap_or_else(|_| panic!("unparsable promtool value {v:?}")),
                )
            };
            results.insert(key, value);
        }
    }
    Some(results)
}

#[test]
fn range_kernels_agree_with_prometheus() {
    let series = test_series();
    let inputs: Vec<(String, Vec<f64>)> = series
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let mut cases = Vec::new();
    for (name, _) in &series {
        for (template, _, _) in CASES {
            for t in eval_times() {
                cases.push((range_expr(template, name), t));
            }
        }
    }
    let Some(oracle) = promtool_results(&inputs, &cases) else {
        return;
    };
    // Guard against a vacuous pass (e.g. promtool output no longer parsed).
    assert!(
        oracle.len() * 10 >= series.len() * CASES.len() * eval_times().len() * 9,
        "promtool returned only {} results",
        oracle.len()
    );
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for (name, values) in &series {
        let points: Vec<FPoint> = values
            .iter()
            .enumerate()
            .map(|(i, &f)| FPoint {
                t: i as i64 * INTERVAL_MS,
                f,
            })
            .collect();
        for (template, kernel_name, args) in CASES {
            let kernel = range_kernel(kernel_name).expect("kernel exists");
            let expr = range_expr(template, name);
            for t in eval_times() {
                let window: Vec<FPoint> = points
                    .iter()
                    .copied()
                    .filter(|p| p.t > t - RANGE_MS && p.t <= t)
                    .collect();
                let w = RangeWindow {
                    points: &window,
                    start_timestamps: &[],
                    range_start_ms: t - RANGE_MS,
                    range_end_ms: t,
                    eval_ms: t,
                    mode: RangeMode::Plain,
                };
                let ours = kernel(&w, args).expect("kernel succeeds");
                // promtool reports nothing when its result is empty and matched.
                let theirs = oracle
                    .get(&(expr.clone(), go_duration(t)))
                    .copied()
                    .unwrap_or(None);
                if !agree(ours, theirs) {
                    mismatches.push(format!(
                        "{expr} at {t}ms: ours {ours:?}, Prometheus {theirs:?}"
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(checked, series.len() * CASES.len() * eval_times().len());
}

/// Upper bounds of the classic histogram used by the instant-function oracle.
const BUCKET_BOUNDS: &[(&str, f64)] = &[
    ("0.05", 0.05),
    ("0.1", 0.1),
    ("0.5", 0.5),
    ("1", 1.0),
    ("+Inf", f64::INFINITY),
];

/// Value series for element-wise functions: `oracle_value` in [-20, 20] with ties at
/// .5 and exact zeros, `oracle_unit` in [-1, 1], `oracle_unix` Unix seconds from
/// 1900 to 2100, and cumulative bucket counts (sometimes not monotonic).
fn instant_series() -> Vec<(String, Vec<f64>)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let n = SAMPLES;
    let value = (0..n)
        .map(|i| match i % 7 {
            0 => 0.0,
            1 => ((rng.next() * 80.0).floor() - 40.0) / 2.0,
            _ => (rng.next() - 0.5) * 40.0,
        })
        .collect();
    let unit = (0..n).map(|_| rng.next() * 2.0 - 1.0).collect();
    let unix = (0..n)
        .map(|_| (-2_208_988_800.0 + rng.next() * 6_311_433_600.0).floor())
        .collect();
    let mut out = vec![
        ("oracle_value".to_string(), value),
        ("oracle_unit".to_string(), unit),
        ("oracle_unix".to_string(), unix),
    ];
    let mut buckets: Vec<Vec<f64>> = vec![Vec::with_capacity(n); BUCKET_BOUNDS.len()];
    for _ in 0..n {
        let mut cumulative = 0.0;
        for column in buckets.iter_mut() {
            cumulative += (rng.next() * 10.0).floor();
            // Now and then a bucket lower than the previous one.
            let v = if rng.next() < 0.15 {
                (cumulative - 6.0f64).max(0.0)
            } else {
                cumulative
            };
            column.push(v);
        }
    }
    for ((le, _), values) in BUCKET_BOUNDS.iter().zip(buckets) {
        out.push((format!("oracle_bucket{{le=\"{le}\"}}"), values));
    }
    out
}

#[test]
fn instant_kernels_agree_with_prometheus() {
    use super::{date::date_kernel, histogram, math};

    let series = instant_series();
    let column = |name: &str| {
        series
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("series")
    };
    // (expression, our computation from the sample index)
    type Ours<'a> = Box<dyn Fn(usize) -> Option<f64> + 'a>;
    let mut exprs: Vec<(String, Ours)> = Vec::new();
    let value = column("oracle_value");
    let unit = column("oracle_unit");
    let unix = column("oracle_unix");
    for name in [
        "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "sin", "cos", "tan",
        "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "deg", "rad",
    ] {
        let k = math::float_kernel(name).expect("float kernel");
        let v = value.clone();
        exprs.push((
            format!("{name}(oracle_value)"),
            Box::new(move |i| Some(k(v[i]))),
        ));
    }
    for name in ["asin", "acos", "atanh"] {
        let k = math::float_kernel(name).expect("float kernel");
        let v = unit.clone();
        exprs.push((
            format!("{name}(oracle_unit)"),
            Box::new(move |i| Some(k(v[i]))),
        ));
    }
    for to in [1.0, 0.3, 5.0] {
        let v = value.clone();
        exprs.push((
            format!("round(oracle_value, {to})"),
            Box::new(move |i| Some(math::round(v[i], to))),
        ));
    }
    for (expr, lo, hi) in [
        ("clamp(oracle_value, -3, 7)", -3.0, 7.0),
        ("clamp_min(oracle_value, 2)", 2.0, f64::INFINITY),
        ("clamp_max(oracle_value, -1)", f64::NEG_INFINITY, -1.0),
    ] {
        let v = value.clone();
        exprs.push((
            expr.to_string(),
            Box::new(move |i| math::clamp(v[i], lo, hi)),
        ));
    }
    for name in [
        "year",
        "month",
        "day_of_month",
        "day_of_year",
        "day_of_week",
        "hour",
        "minute",
        "days_in_month",
    ] {
        let k = date_kernel(name).expect("date kernel");
        let v = unix.clone();
        exprs.push((
            format!("{name}(oracle_unix)"),
            Box::new(move |i| Some(k(v[i]))),
        ));
    }
    let bucket_columns: Vec<Vec<f64>> = BUCKET_BOUNDS
        .iter()
        .map(|(le, _)| column(&format!("oracle_bucket{{le=\"{le}\"}}")))
        .collect();
    for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
        let cols = bucket_columns.clone();
        exprs.push((
            format!("histogram_quantile({q}, oracle_bucket)"),
            Box::new(move |i| {
                let mut b: Vec<histogram::Bucket> = BUCKET_BOUNDS
                    .iter()
                    .zip(&cols)
                    .map(|((_, upper_bound), c)| histogram::Bucket {
                        upper_bound: *upper_bound,
                        count: c[i],
                    })
                    .collect();
                Some(histogram::bucket_quantile(q, &mut b).0)
            }),
        ));
    }

    let times: Vec<i64> = (1..SAMPLES as i64 - 1)
        .step_by(2)
        .map(|i| i * INTERVAL_MS + 7_000)
        .collect();
    let cases: Vec<(String, i64)> = exprs
        .iter()
        .flat_map(|(e, _)| times.iter().map(move |t| (e.clone(), *t)))
        .collect();
    let Some(oracle) = promtool_results(&series, &cases) else {
        return;
    };
    assert!(
        oracle.len() * 10 >= cases.len() * 9,
        "promtool returned only {} results",
        oracle.len()
    );
    let mut mismatches = Vec::new();
    for (expr, ours) in &exprs {
        for &t in &times {
            let ours = ours((t / INTERVAL_MS) as usize);
            let theirs = oracle
                .get(&(expr.clone(), go_duration(t)))
                .copied()
                .unwrap_or(None);
            if !agree(ours, theirs) {
                mismatches.push(format!(
                    "{expr} at {t}ms: ours {ours:?}, Prometheus {theirs:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
