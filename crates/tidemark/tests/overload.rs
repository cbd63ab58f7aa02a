//! Ingestion overload end to end: when every ingestion slot is taken or the in-flight
//! byte budget is spent, requests get 503 with `Retry-After` (which remote-write
//! senders retry) and a JSON reason, counted in /metrics; once the load goes away the
//! server accepts writes again, and data acknowledged before is intact.
//!
//! Slots and bytes are held deterministically by requests whose bodies never finish
//! arriving (the server admits a request before reading its body); a bounded burst of
//! concurrent writers then checks that under real contention every request is either
//! stored (204) or refused whole (503), never half-applied. Finally a real sender,
//! Debian's Prometheus, is refused while the only slot is held and must retry until
//! Tidemark holds exactly the samples Prometheus itself scraped.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, free_port, now_ms, peer_binary, series, Peer, Tidemark};
use serde_json::Value as Json;

const MAX_CONCURRENT: usize = 3;
const MAX_INFLIGHT_BYTES: usize = 1 << 20;

fn start() -> Tidemark {
    Tidemark::start(&[
        "--insert.max-concurrent",
        &MAX_CONCURRENT.to_string(),
        "--insert.max-queue-duration",
        "100ms",
        "--insert.max-inflight-bytes",
        &MAX_INFLIGHT_BYTES.to_string(),
    ])
}

/// An import request that declared `content_length` bytes but sent only a few, so the
/// server holds its slot and reservation until the connection closes (on drop).
struct StalledRequest {
    _connection: TcpStream,
}

impl StalledRequest {
    fn open(tm: &Tidemark, content_length: usize) -> StalledRequest {
        let mut s = TcpStream::connect(("127.0.0.1", tm.port)).unwrap();
        write!(
            s,
            "POST /api/v1/import/prometheus HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: {content_length}\r\n\r\novl_partial 1\n"
        )
        .unwrap();
        s.flush().unwrap();
        StalledRequest { _connection: s }
    }
}

/// Waits until the server reports `want` reserved in-flight bytes.
fn wait_inflight_bytes(tm: &Tidemark, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = tm.metric("tidemark_insert_inflight_bytes");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "in-flight bytes stayed at {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A text-format body of `n` distinct series of metric `name`.
fn text_body(name: &str, batch: usize, n: usize, t_ms: i64) -> String {
    let mut body = String::with_capacity(n * 48);
    for i in 0..n {
        body.push_str(&format!(
            "{name}{{batch=\"{batch}\",i=\"{i}\"}} {i} {t_ms}\n"
        ));
    }
    body
}

fn import(tm: &Tidemark, body: String) -> reqwest::blocking::Response {
    client()
        .post(tm.url("/api/v1/import/prometheus"))
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .unwrap()
}

fn assert_overloaded(resp: reqwest::blocking::Response, reason_words: &str) {
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "503 must tell senders when to retry"
    );
    let body: Json = resp.json().unwrap();
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["errorType"], "unavailable", "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("ingestion overloaded") && message.contains(reason_words),
        "{message}"
    );
}

fn count(tm: &Tidemark, expr: &str, t_ms: i64) -> f64 {
    let result = tm.query(&format!("count({expr})"), t_ms);
    result[0]["value"][1]
        .as_str()
        .map_or(0.0, |v| v.parse().unwrap())
}

#[test]
fn overloaded_ingestion_answers_503_and_recovers() {
    let tm = start();
    let t0 = now_ms();
    let before: Vec<_> = (0..50)
        .map(|i| {
            let inst = format!("{i}");
            series(
                &[("__name__", "ovl_before"), ("i", inst.as_str())],
                &[(t0 - 1000, i as f64), (t0, i as f64 + 0.5)],
            )
        })
        .collect();
    tm.remote_write(&before);

    // Every slot held: a new request waits 100 ms, then gets 503.
    let held: Vec<StalledRequest> = (0..MAX_CONCURRENT)
        .map(|_| StalledRequest::open(&tm, 100))
        .collect();
    wait_inflight_bytes(&tm, (MAX_CONCURRENT * 100) as f64);
    let started = Instant::now();
    assert_overloaded(
        import(&tm, text_body("ovl_refused", 0, 10, t0)),
        "no slot freed",
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "waited in the queue first"
    );
    drop(held);
    wait_inflight_bytes(&tm, 0.0);

    // The byte budget nearly spent by one request: a second one does not fit.
    let big = StalledRequest::open(&tm, MAX_INFLIGHT_BYTES - 1000);
    wait_inflight_bytes(&tm, (MAX_INFLIGHT_BYTES - 1000) as f64);
    assert_overloaded(
        import(&tm, text_body("ovl_refused", 1, 200, t0)),
        "would exceed the limit",
    );
    drop(big);
    wait_inflight_bytes(&tm, 0.0);

    assert_eq!(
        tm.metric(
            r#"tidemark_rejected_requests_total{handler="prometheus_text",reason="too_many_concurrent_inserts"}"#
        ),
        1.0
    );
    assert_eq!(
        tm.metric(
            r#"tidemark_rejected_requests_total{handler="prometheus_text",reason="inflight_bytes_limit"}"#
        ),
        1.0
    );

    // Recovered: the same request is accepted now; nothing refused was stored.
    let resp = import(&tm, text_body("ovl_after", 0, 200, t0));
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().unwrap());
    assert_eq!(count(&tm, "ovl_after", t0), 200.0);
    assert_eq!(count(&tm, "ovl_refused", t0), 0.0);
    assert_eq!(count(&tm, "ovl_partial", t0), 0.0);

    // Data acknowledged before the overload is intact.
    let result = tm.query("sum(ovl_before)", t0);
    let sum: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(sum, (0..50).map(|i| i as f64 + 0.5).sum::<f64>());
    assert_eq!(count(&tm, "ovl_before", t0 - 1000), 50.0);
}

/// A bounded burst from more writers than slots: each request is stored whole or
/// refused whole, and /metrics counts exactly the refusals the clients saw.
#[test]
fn burst_of_writers_is_stored_or_refused_whole() {
    const WRITERS: usize = 12;
    const REQUESTS_PER_WRITER: usize = 5;
    const SERIES_PER_REQUEST: usize = 400;
    let tm = Arc::new(start());
    let t0 = now_ms();
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (tm, accepted, refused) = (tm.clone(), accepted.clone(), refused.clone());
            std::thread::spawn(move || {
                for r in 0..REQUESTS_PER_WRITER {
                    let batch = w * REQUESTS_PER_WRITER + r;
                    let resp = import(&tm, text_body("ovl_burst", batch, SERIES_PER_REQUEST, t0));
                    match resp.status().as_u16() {
                        204 => accepted.fetch_add(1, Ordering::Relaxed),
                        503 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected status {other}: {}", resp.text().unwrap()),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (accepted, refused) = (
        accepted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    println!("burst: {accepted} requests stored, {refused} refused with 503");
    assert_eq!(accepted + refused, WRITERS * REQUESTS_PER_WRITER);
    assert!(accepted > 0, "some requests must get through");
    let counted = tm.metric(
        r#"tidemark_rejected_requests_total{handler="prometheus_text",reason="too_many_concurrent_inserts"}"#,
    ) + tm.metric(
        r#"tidemark_rejected_requests_total{handler="prometheus_text",reason="inflight_bytes_limit"}"#,
    );
    assert_eq!(counted, refused as f64);
    assert_eq!(
        count(&tm, "ovl_burst", t0),
        (accepted * SERIES_PER_REQUEST) as f64,
        "exactly the acknowledged requests are stored"
    );
    // Count again by batch: no refused batch left a partial trace.
    let batches = tm.query("count(count by (batch) (ovl_burst))", t0);
    assert_eq!(batches[0]["value"][1], accepted.to_string());
}

/// A real sender: Debian's Prometheus remote-writes node_exporter scrapes while the
/// only ingestion slot is held, gets 503s, retries them, and once the slot frees every
/// sample it scraped arrives: Tidemark ends up with exactly Prometheus' own samples.
#[test]
fn prometheus_retries_503_until_every_sample_is_stored() {
    let (Some(prometheus), Some(exporter)) = (
        peer_binary("prometheus"),
        peer_binary("prometheus-node-exporter"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tm = Tidemark::start(&[
        "--insert.max-concurrent",
        "1",
        "--insert.max-queue-duration",
        "50ms",
    ]);
    let ne_port = free_port();
    let mut ne_cmd = std::process::Command::new(exporter);
    ne_cmd.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let mut ne = Peer::spawn("node_exporter", ne_cmd, ne_port, &dir.path().join("ne.log"));
    ne.wait_http_ok("/metrics", Duration::from_secs(30));
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{ne_port}"]
remote_write:
  - url: "{}"
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
"#,
        tm.url("/api/v1/write")
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let p_port = free_port();
    let mut p_cmd = std::process::Command::new(prometheus);
    p_cmd
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{p_port}"));
    let mut prom = Peer::spawn("prometheus", p_cmd, p_port, &dir.path().join("prom.log"));
    prom.wait_http_ok("/-/ready", Duration::from_secs(60));
    // Until Prometheus has scraped and sent once (its first scrape is jittered).
    let deadline = Instant::now() + Duration::from_secs(30);
    while tm.metric(r#"tidemark_ingest_requests_total{protocol="remote_write"}"#) < 1.0 {
        assert!(Instant::now() < deadline, "Prometheus never remote-wrote");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Hold the only slot for 6 s: every remote-write request in that time gets a 503.
    let start_ms = now_ms();
    let held = StalledRequest::open(&tm, 100);
    std::thread::sleep(Duration::from_secs(6));
    drop(held);
    let refused = tm.metric(
        r#"tidemark_rejected_requests_total{handler="remote_write",reason="too_many_concurrent_inserts"}"#,
    );
    assert!(
        refused >= 1.0,
        "Prometheus sent nothing while the slot was held"
    );
    let end_ms = now_ms() + 1000;
    std::thread::sleep(Duration::from_secs(1));

    // The samples of `up` scraped around the blocked period, in both systems.
    let window_s = (end_ms - start_ms) / 1000 + 3;
    let expr = format!("count_over_time(up[{window_s}s])");
    let count = |url: String| -> f64 {
        let body: Json = client()
            .get(url)
            .query(&[
                ("query", expr.as_str()),
                ("time", &format!("{}", end_ms as f64 / 1000.0)),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let want = count(prom.url("/api/v1/query"));
    assert!(
        want >= 6.0,
        "Prometheus scraped {want} times in {window_s}s"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = count(tm.url("/api/v1/query"));
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tidemark has {got} of Prometheus' {want} samples 30 s after the overload ended ({refused} requests were refused)"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("{refused} remote-write requests refused with 503 and retried; {want} samples of up arrived");
}
