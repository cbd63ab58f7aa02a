//! Differential PromQL test: the same deterministic data is remote-written into Debian's
//! Prometheus (2.42) and into `tidemark`, then a few hundred generated queries run through
//! both HTTP APIs and the results must agree within 1e-6 relative tolerance.
//!
//! Prometheus 2.x range windows are left-closed, 3.x (which tidemark follows) left-open.
//! Sample timestamps are therefore jittered 1–9 ms past the 15 s grid and queries run at
//! `:30` offsets, so that no sample and no subquery step ever sits on a window boundary.
//!
//! Peers: without `prometheus` on PATH the test skips with a message, except under `CI`
//! where it fails. If tidemark cannot start or answer, the test fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use tidemark_model::{Labels, Sample, TimeSeries};
use tidemark_protocols::remote_write::encode_v1;

const SCRAPE_MS: i64 = 15_000;
const SAMPLES_PER_SERIES: i64 = 200; // 50 minutes: inside Prometheus' 1h appendable window.
const RELATIVE_TOLERANCE: f64 = 1e-6;
/// Below this both engines may legitimately differ by summation order only.
const ABSOLUTE_TOLERANCE: f64 = 1e-9;

// ---------------------------------------------------------------------------------------
// Peers

/// A child process killed on drop.
struct Peer {
    name: &'static str,
    child: Child,
    base_url: String,
    /// Holds the peer's data (and, for tidemark, its log) until the peer is dropped.
    dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("local addr")
        .port()
}

fn find_prometheus() -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

fn start_prometheus(binary: &str) -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("write config");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn prometheus");
    Peer {
        name: "prometheus",
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

fn start_tidemark() -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("tidemark.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .arg(format!(
            "--storage-path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--http-listen-addr=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn tidemark");
    Peer {
        name: "tidemark",
        child,
        base_url: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Waits until the peer answers a trivial query.
fn wait_ready(peer: &mut Peer, http: &reqwest::blocking::Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = peer.child.try_wait() {
            return Err(format!("{} exited during startup with {status}", peer.name));
        }
        let url = format!("{}/api/v1/query", peer.base_url);
        if http
            .get(&url)
            .query(&[("query", "1")])
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not become ready within 30s", peer.name));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn remote_write(
    peer: &Peer,
    http: &reqwest::blocking::Client,
    series: &[TimeSeries],
) -> Result<(), String> {
    // Small batches keep each request far below any body limit.
    for chunk in series.chunks(10) {
        let resp = http
            .post(format!("{}/api/v1/write", peer.base_url))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(encode_v1(chunk))
            .send()
            .map_err(|e| format!("{}: remote write failed: {e}", peer.name))?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(format!(
                "{}: remote write answered {status}: {}",
                peer.name,
                resp.text().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Data

/// splitmix64: a tiny deterministic generator, so every run writes identical data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const JOBS: [&str; 3] = ["api", "web", "db"];
const INSTANCES: [&str; 3] = ["i0", "i1", "i2"];
const BUCKETS: [&str; 5] = ["0.1", "0.5", "1", "5", "+Inf"];

fn timestamps(base_ms: i64, rng: &mut Rng) -> Vec<i64> {
    (0..SAMPLES_PER_SERIES)
        .map(|i| base_ms + i * SCRAPE_MS + 1 + (rng.next() % 9) as i64)
        .collect()
}

fn series(
    name: &str,
    labels: &[(&str, &str)],
    ts: &[i64],
    values: impl Iterator<Item = f64>,
) -> TimeSeries {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(labels);
    let samples = ts
        .iter()
        .zip(values)
        .map(|(&t, v)| Sample::new(t, v))
        .collect();
    TimeSeries::new(Labels::from_pairs(pairs), samples)
}

/// Counters (with resets), gauges and a classic histogram over 3 jobs × 3 instances.
fn generate(base_ms: i64) -> Vec<TimeSeries> {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    for job in JOBS {
        for inst in INSTANCES {
            for method in ["GET", "POST"] {
                let ts = timestamps(base_ms, &mut rng);
                let rate = 1.0 + rng.unit() * 20.0;
                let reset_at = 40 + (rng.next() % 120) as usize;
                let mut v = rng.unit() * 1000.0;
                let values: Vec<f64> = (0..ts.len())
                    .map(|i| {
                        v = if i == reset_at {
                            rng.unit() * 5.0
                        } else {
                            v + rate * 15.0 * (0.5 + rng.unit())
                        };
                        v.round()
                    })
                    .collect();
                out.push(series(
                    "diff_requests_total",
                    &[("job", job), ("instance", inst), ("method", method)],
                    &ts,
                    values.into_iter(),
                ));
            }
            let ts = timestamps(base_ms, &mut rng);
            let phase = rng.unit() * 6.0;
            let values: Vec<f64> = (0..ts.len())
                .map(|i| 20.0 + 5.0 * (i as f64 / 10.0 + phase).sin() + rng.unit())
                .collect();
            out.push(series(
                "diff_temperature_celsius",
                &[("job", job), ("instance", inst)],
                &ts,
                values.into_iter(),
            ));

            let ts = timestamps(base_ms, &mut rng);
            let mut cumulative = [0.0f64; 5];
            let mut sum = 0.0;
            let mut rows = Vec::new();
            for _ in 0..ts.len() {
                let observations = 5 + rng.next() % 20;
                for _ in 0..observations {
                    let x = rng.unit() * rng.unit() * 6.0;
                    sum += x;
                    let first = [0.1, 0.5, 1.0, 5.0]
                        .iter()
                        .position(|&b| x <= b)
                        .unwrap_or(4);
                    for c in cumulative.iter_mut().skip(first) {
                        *c += 1.0;
                    }
                }
                rows.push((cumulative, sum));
            }
            for (b, le) in BUCKETS.iter().enumerate() {
                let values = rows.iter().map(|(c, _)| c[b]);
                out.push(series(
                    "diff_latency_seconds_bucket",
                    &[("job", job), ("instance", inst), ("le", le)],
                    &ts,
                    values,
                ));
            }
            out.push(series(
                "diff_latency_seconds_sum",
                &[("job", job), ("instance", inst)],
                &ts,
                rows.iter().map(|r| r.1),
            ));
            out.push(series(
                "diff_latency_seconds_count",
                &[("job", job), ("instance", inst)],
                &ts,
                rows.iter().map(|r| r.0[4]),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Queries

#[derive(Debug, Clone)]
enum QueryKind {
    Instant {
        t_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

#[derive(Debug, Clone)]
struct Query {
    expr: String,
    kind: QueryKind,
}

const MATCHERS: [&str; 5] = [
    "",
    r#"job="api""#,
    r#"job=~"api|web""#,
    r#"job!="db""#,
    r#"instance!~"i1""#,
];

fn selector(name: &str, i: usize) -> String {
    format!("{name}{{{}}}", MATCHERS[i % MATCHERS.len()])
}

/// Builds the query list: functions × ranges × matchers, aggregations × groupings, and
/// operators/histogram queries, each as an instant and a range query.
fn generate_queries(base_ms: i64) -> Vec<Query> {
    let mut exprs: Vec<String> = Vec::new();
    let counter_fns = ["rate", "increase", "irate", "resets", "changes"];
    let gauge_fns = [
        "delta",
        "idelta",
        "deriv",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "last_over_time",
        "present_over_time",
    ];
    let mut i = 0;
    for range in ["1m", "5m", "10m"] {
        for f in counter_fns {
            exprs.push(format!(
                "{f}({}[{range}])",
                selector("diff_requests_total", i)
            ));
            i += 1;
        }
        for f in gauge_fns {
            exprs.push(format!(
                "{f}({}[{range}])",
                selector("diff_temperature_celsius", i)
            ));
            i += 1;
        }
        exprs.push(format!(
            "quantile_over_time(0.75, {}[{range}])",
            selector("diff_temperature_celsius", i)
        ));
        exprs.push(format!(
            "predict_linear({}[{range}], 600)",
            selector("diff_temperature_celsius", i + 1)
        ));
        i += 2;
    }
    let inners = [
        "rate(diff_requests_total[5m])".to_string(),
        "diff_temperature_celsius".to_string(),
        format!(
            "avg_over_time({}[10m])",
            selector("diff_temperature_celsius", 2)
        ),
    ];
    let aggregations = [
        "sum", "avg", "min", "max", "count", "stddev", "stdvar", "group",
    ];
    for inner in &inners {
        for agg in aggregations {
            for grouping in ["", " by (job)", " without (instance)"] {
                exprs.push(format!("{agg}{grouping} ({inner})"));
            }
        }
        for (param_agg, param) in [("topk", "2"), ("bottomk", "3"), ("quantile", "0.9")] {
            exprs.push(format!("{param_agg}({param}, {inner})"));
            exprs.push(format!("{param_agg} by (job) ({param}, {inner})"));
        }
        exprs.push(format!("count_values(\"value\", round({inner}))"));
    }
    exprs.extend(
        [
            "diff_temperature_celsius * 2 - 1",
            "diff_temperature_celsius > 21",
            "diff_temperature_celsius > bool 21",
            "-diff_temperature_celsius",
            "diff_temperature_celsius % 3",
            "diff_temperature_celsius ^ 2",
            "abs(diff_temperature_celsius - 20)",
            "ceil(diff_temperature_celsius)",
            "floor(diff_temperature_celsius)",
            "round(diff_temperature_celsius, 0.5)",
            "clamp(diff_temperature_celsius, 18, 22)",
            "clamp_min(diff_temperature_celsius, 20)",
            "clamp_max(diff_temperature_celsius, 20)",
            "sqrt(diff_temperature_celsius)",
            "ln(diff_temperature_celsius)",
            "exp(diff_temperature_celsius / 10)",
            "sgn(diff_temperature_celsius - 20)",
            "timestamp(diff_temperature_celsius)",
            "absent(diff_nonexistent_metric)",
            "absent(diff_temperature_celsius)",
            "scalar(sum(diff_temperature_celsius))",
            "vector(1) + 2",
            "time() - 1",
            r#"label_replace(diff_temperature_celsius, "host", "$1-x", "instance", "i(.*)")"#,
            r#"label_join(diff_temperature_celsius, "jobinst", "/", "job", "instance")"#,
            "sum by (job) (rate(diff_latency_seconds_sum[5m])) / sum by (job) (rate(diff_latency_seconds_count[5m]))",
            "histogram_quantile(0.9, sum by (le, job) (rate(diff_latency_seconds_bucket[5m])))",
            "histogram_quantile(0.5, rate(diff_latency_seconds_bucket[10m]))",
            "histogram_quantile(0.99, sum by (le) (rate(diff_latency_seconds_bucket[5m])))",
            "rate(diff_requests_total[5m]) / on(job, instance) group_left sum by (job, instance) (rate(diff_requests_total[5m]))",
            "diff_temperature_celsius and on(job) diff_temperature_celsius{instance=\"i0\"}",
            "diff_temperature_celsius or on(job) vector(1)",
            "diff_temperature_celsius unless on(instance) diff_temperature_celsius{instance=\"i2\"}",
            "sum by (job) (diff_temperature_celsius) / ignoring(job) group_left count(diff_temperature_celsius)",
            "max_over_time(rate(diff_requests_total[5m])[10m:1m])",
            "avg_over_time(diff_temperature_celsius[10m:1m])",
            "diff_temperature_celsius offset 5m",
            "rate(diff_requests_total[5m] offset 10m)",
            "sum(diff_temperature_celsius) - sum(diff_temperature_celsius offset 1m)",
            "sort_desc(sum by (job) (rate(diff_requests_total[5m])))",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    // `:30` offsets: never on the 15 s sample grid, never on a 1 m subquery step.
    let t_end = base_ms + 45 * 60_000 + 30_000;
    let t_mid = base_ms + 25 * 60_000 + 30_000;
    let mut queries = Vec::new();
    for (n, expr) in exprs.into_iter().enumerate() {
        let t_ms = if n % 2 == 0 { t_end } else { t_mid };
        queries.push(Query {
            expr: expr.clone(),
            kind: QueryKind::Instant { t_ms },
        });
        queries.push(Query {
            expr,
            kind: QueryKind::Range {
                start_ms: base_ms + 12 * 60_000 + 30_000,
                end_ms: t_end,
                step_ms: 60_000,
            },
        });
    }
    queries
}

// ---------------------------------------------------------------------------------------
// Comparison

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A result reduced to what both engines must agree on.
#[derive(Debug)]
enum Outcome {
    Error(String),
    Scalar(i64, f64),
    String(String),
    /// labels → points (one for vectors).
    Series(String, BTreeMap<String, Vec<(i64, f64)>>),
}

fn parse_value(v: &Json) -> Result<f64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("sample value {v} is not a string"))?;
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad sample value {s:?}")),
    }
}

fn parse_point(p: &Json) -> Result<(i64, f64), String> {
    let arr = p
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("bad point {p}"))?;
    let t = arr[0]
        .as_f64()
        .ok_or_else(|| format!("bad timestamp in {p}"))?;
    Ok(((t * 1000.0).round() as i64, parse_value(&arr[1])?))
}

fn labels_key(metric: &Json) -> String {
    // serde_json's map is sorted, so this is canonical.
    metric
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn run_query(peer: &Peer, http: &reqwest::blocking::Client, q: &Query) -> Outcome {
    let (path, params) = match q.kind {
        QueryKind::Instant { t_ms } => (
            "query",
            vec![("query", q.expr.clone()), ("time", secs(t_ms))],
        ),
        QueryKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => (
            "query_range",
            vec![
                ("query", q.expr.clone()),
                ("start", secs(start_ms)),
                ("end", secs(end_ms)),
                ("step", secs(step_ms)),
            ],
        ),
    };
    let resp = match http
        .get(format!("{}/api/v1/{path}", peer.base_url))
        .query(&params)
        .send()
    {
        Ok(r) => r,
        Err(e) => return Outcome::Error(format!("transport: {e}")),
    };
    let body: Json = match resp.json() {
        Ok(b) => b,
        Err(e) => return Outcome::Error(format!("undecodable body: {e}")),
    };
    if body["status"] != "success" {
        return Outcome::Error(format!("{}: {}", body["errorType"], body["error"]));
    }
    parse_data(&body["data"]).unwrap_or_else(|e| Outcome::Error(format!("malformed response: {e}")))
}

fn parse_data(data: &Json) -> Result<Outcome, String> {
    let kind = data["resultType"].as_str().ok_or("missing resultType")?;
    let result = &data["result"];
    match kind {
        "scalar" => {
            let (t, v) = parse_point(result)?;
            Ok(Outcome::Scalar(t, v))
        }
        "string" => Ok(Outcome::String(
            result[1].as_str().unwrap_or_default().to_string(),
        )),
        "vector" | "matrix" => {
            let mut out = BTreeMap::new();
            for s in result.as_array().ok_or("result is not a list")? {
                let points = if kind == "vector" {
                    vec![parse_point(&s["value"])?]
                } else {
                    s["values"]
                        .as_array()
                        .ok_or("series without values")?
                        .iter()
                        .map(parse_point)
                        .collect::<Result<_, _>>()?
                };
                if out.insert(labels_key(&s["metric"]), points).is_some() {
                    return Err(format!("duplicate series {}", s["metric"]));
                }
            }
            Ok(Outcome::Series(kind.to_string(), out))
        }
        other => Err(format!("unknown resultType {other}")),
    }
}

fn values_agree(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b
        || (a - b).abs() <= ABSOLUTE_TOLERANCE
        || (a - b).abs() <= RELATIVE_TOLERANCE * a.abs().max(b.abs())
}

/// `None` when both agree, else a description of the first difference.
fn difference(prom: &Outcome, tm: &Outcome) -> Option<String> {
    match (prom, tm) {
        (Outcome::Error(_), Outcome::Error(_)) => None,
        (Outcome::Scalar(t1, v1), Outcome::Scalar(t2, v2))
            if t1 == t2 && values_agree(*v1, *v2) =>
        {
            None
        }
        (Outcome::String(a), Outcome::String(b)) if a == b => None,
        (Outcome::Series(k1, a), Outcome::Series(k2, b)) => {
            if k1 != k2 {
                return Some(format!("result type {k1} vs {k2}"));
            }
            if let Some(missing) = a.keys().find(|k| !b.contains_key(*k)) {
                return Some(format!(
                    "series {{{missing}}} missing from tidemark ({} vs {} series)",
                    a.len(),
                    b.len()
                ));
            }
            if let Some(extra) = b.keys().find(|k| !a.contains_key(*k)) {
                return Some(format!("extra series {{{extra}}} from tidemark"));
            }
            for (labels, pa) in a {
                let pb = &b[labels];
                if pa.len() != pb.len() {
                    return Some(format!("{{{labels}}}: {} vs {} points", pa.len(), pb.len()));
                }
                if let Some(((ta, va), (tb, vb))) = pa
                    .iter()
                    .zip(pb)
                    .find(|((ta, va), (tb, vb))| ta != tb || !values_agree(*va, *vb))
                {
                    return Some(format!(
                        "{{{labels}}}: prometheus {va}@{ta} vs tidemark {vb}@{tb}"
                    ));
                }
            }
            None
        }
        (Outcome::Error(e), _) => Some(format!(
            "prometheus failed ({e}) but tidemark returned {tm:?}"
        )),
        (_, Outcome::Error(e)) => Some(format!("tidemark failed: {e}")),
        _ => Some(format!("prometheus {prom:?} vs tidemark {tm:?}")),
    }
}

/// Queries whose results legitimately differ between Prometheus 2.42 and the 3.x
/// semantics tidemark implements: (expression, range query?, reason).
const KNOWN_DIVERGENCES: &[(&str, bool, &str)] = &[(
    "rate(diff_requests_total[5m] offset 10m)",
    true,
    "the first steps' windows start before the counters' first sample; 2.42 caps the \
     extrapolation at the counter's zero point before applying the 1.1x-average-interval \
     threshold, Prometheus since PR #13725 (2.52+, 3.x) applies the threshold first",
)];

fn known_divergence(q: &Query) -> Option<&'static str> {
    let is_range = matches!(q.kind, QueryKind::Range { .. });
    KNOWN_DIVERGENCES
        .iter()
        .find(|(e, r, _)| *e == q.expr && *r == is_range)
        .map(|(_, _, why)| *why)
}

// ---------------------------------------------------------------------------------------

#[test]
fn promql_matches_prometheus() {
    let in_ci = std::env::var_os("CI").is_some();
    let Some(prometheus_bin) = find_prometheus() else {
        assert!(
            !in_ci,
            "prometheus is not installed but CI is set: run scripts/install-deps"
        );
        println!("SKIP promql_differential: prometheus not found on PATH (install Debian's `prometheus`)");
        return;
    };
    let http = client();
    let mut prom = start_prometheus(&prometheus_bin);
    let mut tidemark = start_tidemark();
    wait_ready(&mut prom, &http).expect("prometheus startup");
    if let Err(e) = wait_ready(&mut tidemark, &http) {
        let log =
            std::fs::read_to_string(tidemark.dir.path().join("tidemark.log")).unwrap_or_default();
        panic!("{e}\ntidemark log:\n{log}");
    }

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let base_ms = (now_ms / 60_000) * 60_000 - 55 * 60_000;
    let data = generate(base_ms);
    remote_write(&prom, &http, &data).expect("write to prometheus");
    remote_write(&tidemark, &http, &data).expect("write to tidemark");
    wait_for_series(&[&prom, &tidemark], &http, data.len(), base_ms);

    let queries = generate_queries(base_ms);
    assert!(
        queries.len() >= 300,
        "only {} queries generated",
        queries.len()
    );
    let mut agreed = 0;
    let mut known = Vec::new();
    let mut unexpected = Vec::new();
    let mut both_errors = 0;
    for q in &queries {
        let p = run_query(&prom, &http, q);
        let t = run_query(&tidemark, &http, q);
        if let (Outcome::Error(_), Outcome::Error(_)) = (&p, &t) {
            both_errors += 1;
        }
        match (difference(&p, &t), known_divergence(q)) {
            (None, _) => agreed += 1,
            (Some(d), Some(why)) => {
                known.push(format!("{} [{:?}]: {d} (known: {why})", q.expr, q.kind))
            }
            (Some(d), None) => unexpected.push(format!("{} [{:?}]: {d}", q.expr, q.kind)),
        }
    }
    let mut out = std::io::stdout().lock();
    for k in &known {
        writeln!(out, "known divergence: {k}").unwrap();
    }
    for u in &unexpected {
        writeln!(out, "DIVERGENCE: {u}").unwrap();
    }
    writeln!(
        out,
        "promql differential vs prometheus 2.42: {agreed}/{} queries agree ({both_errors} are errors in both), {} known divergences, {} unexpected",
        queries.len(),
        known.len(),
        unexpected.len()
    )
    .unwrap();
    drop(out);
    assert!(
        both_errors * 10 < queries.len(),
        "too many queries fail in both engines: the generator is broken"
    );
    assert!(
        unexpected.is_empty(),
        "{} queries differ from Prometheus; first: {}",
        unexpected.len(),
        unexpected[0]
    );
}

/// Both peers must report every written series before queries start (tidemark may buffer).
fn wait_for_series(peers: &[&Peer], http: &reqwest::blocking::Client, want: usize, base_ms: i64) {
    let t = secs(base_ms + (SAMPLES_PER_SERIES - 1) * SCRAPE_MS + 10_000);
    let expr = r#"count({__name__=~"diff_.+"})"#;
    for peer in peers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let resp = http
                .get(format!("{}/api/v1/query", peer.base_url))
                .query(&[("query", expr), ("time", t.as_str())])
                .send()
                .and_then(|r| r.json::<Json>());
            let got = resp.ok().and_then(|b| parse_data(&b["data"]).ok());
            let count = match got {
                Some(Outcome::Series(_, m)) => m
                    .values()
                    .next()
                    .and_then(|p| p.first())
                    .map_or(0.0, |p| p.1),
                _ => 0.0,
            };
            if count as usize == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} shows {count} of {want} series 30s after the write",
                peer.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn comparison_rules() {
    assert!(values_agree(1.0, 1.0 + 1e-7));
    assert!(!values_agree(1.0, 1.001));
    assert!(values_agree(f64::NAN, f64::NAN));
    assert!(!values_agree(f64::NAN, 0.0));
    assert!(values_agree(0.0, 1e-12));
    assert!(!values_agree(f64::INFINITY, 1e300));
    let data = serde_json::json!({"resultType": "vector", "result": [{"metric": {"b": "2", "a": "1"}, "value": [1.5, "+Inf"]}]});
    let Ok(Outcome::Series(kind, m)) = parse_data(&data) else {
        panic!("vector expected")
    };
    assert_eq!(kind, "vector");
    assert_eq!(m[r#"a="1",b="2""#], vec![(1500, f64::INFINITY)]);
    let other = serde_json::json!({"resultType": "vector", "result": []});
    assert!(difference(&parse_data(&data).unwrap(), &parse_data(&other).unwrap()).is_some());
    assert!(difference(&parse_data(&data).unwrap(), &parse_data(&data).unwrap()).is_none());
    assert!(Path::new(env!("CARGO_BIN_EXE_tidemark")).is_file());
}
