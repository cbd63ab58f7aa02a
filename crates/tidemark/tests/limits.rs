//! Query guard rails end to end: per-query timeout, sample and series limits, the
//! bounded concurrency queue and cancellation when the client disconnects. Each test
//! runs the real binary and checks the HTTP status, the Prometheus error JSON and the
//! self-metrics.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{client, now_ms, series, Tidemark};
use serde_json::Value as Json;

const SERIES: usize = 1_000;
const SAMPLES_PER_SERIES: usize = 240;
const SCRAPE_INTERVAL_MS: i64 = 15_000;

/// A query that costs far more than any test waits for: a 30-day subquery at a one
/// second resolution, evaluating `rate` over every series at 2.6M steps. (A one-day
/// subquery finished inside the 1.5 s limit once range functions slid their windows.)
const HEAVY: &str = "max(max_over_time(rate(lim_load[5m])[30d:1s]))";

/// Writes `SERIES` counters of `SAMPLES_PER_SERIES` samples ending now; returns the
/// timestamp of the last sample.
fn ingest_load(tm: &Tidemark) -> i64 {
    let end = now_ms() / 1000 * 1000;
    let start = end - (SAMPLES_PER_SERIES as i64 - 1) * SCRAPE_INTERVAL_MS;
    let samples_of = |i: usize| -> Vec<(i64, f64)> {
        (0..SAMPLES_PER_SERIES)
            .map(|k| {
                let t = start + k as i64 * SCRAPE_INTERVAL_MS;
                (t, (k * (i % 7 + 1)) as f64)
            })
            .collect()
    };
    for chunk_start in (0..SERIES).step_by(200) {
        let batch: Vec<_> = (chunk_start..(chunk_start + 200).min(SERIES))
            .map(|i| {
                let instance = format!("host-{i}");
                series(
                    &[("__name__", "lim_load"), ("instance", instance.as_str())],
                    &samples_of(i),
                )
            })
            .collect();
        tm.remote_write(&batch);
    }
    end
}

/// Sends an instant query and returns (status, body JSON).
fn instant(tm: &Tidemark, expr: &str, t_ms: i64, extra: &[(&str, &str)]) -> (u16, Json) {
    let time = format!("{}", t_ms as f64 / 1000.0);
    let mut params = vec![("query", expr), ("time", time.as_str())];
    params.extend_from_slice(extra);
    let resp = client()
        .get(tm.url("/api/v1/query"))
        .query(&params)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("query {expr}: bad JSON {e}: {text}"));
    (status, body)
}

fn assert_error(status: u16, body: &Json, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["errorType"], want_type, "{body}");
}

/// A cheap query still answers correctly, i.e. a refused query left the server usable.
fn assert_cheap_query_works(tm: &Tidemark, t_ms: i64) {
    let (status, body) = instant(tm, "count(lim_load)", t_ms, &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"][0]["value"][1],
        SERIES.to_string(),
        "{body}"
    );
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[test]
fn timeout_parameter_and_flag_stop_a_heavy_query_with_503() {
    let tm = Tidemark::start(&["--search.timeout=1500ms"]);
    let t = ingest_load(&tm);

    // The request's `timeout` shortens the budget.
    let began = Instant::now();
    let (status, body) = instant(&tm, HEAVY, t, &[("timeout", "100ms")]);
    let took = began.elapsed();
    assert_error(status, &body, 503, "timeout");
    assert!(
        body["error"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");

    // Without the parameter `--search.timeout` bounds it; a larger parameter cannot
    // extend it.
    let began = Instant::now();
    let (status, body) = instant(&tm, HEAVY, t, &[("timeout", "1h")]);
    let took = began.elapsed();
    assert_error(status, &body, 503, "timeout");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "the 1.5 s server limit answered after {took:?}"
    );

    assert_cheap_query_works(&tm, t);
    assert!(
        wait_until(Duration::from_secs(3), || tm
            .metric("tidemark_queries_in_flight")
            == 0.0),
        "timed-out evaluations kept running"
    );
}

#[test]
fn sample_and_series_limits_answer_422() {
    let tm = Tidemark::start(&["--search.max-samples=5000", "--search.max-series=500"]);
    let t = ingest_load(&tm);

    // 400 series × 20 samples (5 min at 15 s) = 8,000 samples > 5,000.
    let (status, body) = instant(
        &tm,
        "sum(count_over_time(lim_load{instance=~\"host-[0-3].*\"}[5m]))",
        t,
        &[],
    );
    assert_error(status, &body, 422, "execution");
    assert!(
        body["error"].as_str().unwrap().contains("too many samples"),
        "{body}"
    );

    // All 1,000 series exceed the 500-series limit, however few samples they hold.
    let (status, body) = instant(&tm, "count(lim_load)", t, &[]);
    assert_error(status, &body, 422, "execution");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("matches more than 500 series"),
        "{body}"
    );

    // Within both limits: 100 series × 20 samples.
    let (status, body) = instant(
        &tm,
        "sum(count_over_time(lim_load{instance=~\"host-[0-9]?[0-9]\"}[5m]))",
        t,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "2000", "{body}");
}

#[test]
fn full_query_queue_answers_503_while_the_running_query_finishes() {
    let tm = Tidemark::start(&[
        "--search.max-concurrent-queries=1",
        "--search.max-queue-duration=100ms",
        "--search.timeout=30s",
    ]);
    let t = ingest_load(&tm);
    // Slow enough to hold the only slot well past the queue wait (a one-hour subquery
    // at 1 s over 1,000 series), yet it finishes.
    let slow = "max(max_over_time(rate(lim_load[5m])[1h:1s]))";

    let began = Instant::now();
    let outcomes: Vec<(u16, Json)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| instant(&tm, slow, t, &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = began.elapsed();
    eprintln!("4 concurrent slow queries answered within {took:?}");

    let ok = outcomes.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 503).collect();
    assert!(ok >= 1, "no query succeeded: {outcomes:?}");
    assert!(!refused.is_empty(), "no query was refused: {outcomes:?}");
    assert_eq!(ok + refused.len(), outcomes.len(), "{outcomes:?}");
    for (_, body) in refused {
        assert_eq!(body["errorType"], "unavailable", "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("too many concurrent queries"),
            "{body}"
        );
    }
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        tm.metric(r#"tidemark_rejected_requests_total{handler="query",reason="overloaded"}"#)
            >= 1.0
    );
}

#[test]
fn client_disconnect_cancels_the_evaluation() {
    let tm = Tidemark::start(&["--search.timeout=60s"]);
    let t = ingest_load(&tm);
    assert_eq!(tm.metric("tidemark_queries_canceled_total"), 0.0);

    // A raw connection so that the test controls exactly when the client goes away.
    let mut conn = TcpStream::connect(("127.0.0.1", tm.port)).unwrap();
    let query: String = url_encode(HEAVY);
    write!(
        conn,
        "GET /api/v1/query?query={query}&time={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        t / 1000
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || tm
            .metric("tidemark_queries_in_flight")
            == 1.0),
        "the heavy query never started"
    );
    std::thread::sleep(Duration::from_millis(200));
    let dropped_at = Instant::now();
    drop(conn);

    // The query would run for far longer than its 60 s budget; once the client is
    // gone the evaluation must stop within moments.
    assert!(
        wait_until(Duration::from_secs(5), || tm
            .metric("tidemark_queries_in_flight")
            == 0.0),
        "evaluation still running 5 s after the client disconnected"
    );
    let stopped_after = dropped_at.elapsed();
    assert_eq!(
        tm.metric("tidemark_queries_canceled_total"),
        1.0,
        "evaluation ended without being canceled (after {stopped_after:?})"
    );
    assert_cheap_query_works(&tm, t);
}

/// Percent-encodes a query parameter value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
