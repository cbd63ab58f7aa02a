//! OpenMetrics import with real exposition output. Debian's `prometheus-node-exporter`
//! (1.5) answers `Accept: application/openmetrics-text` with the 0.0.4 text format, so
//! one real scrape of it is re-encoded as OpenMetrics by the official Python client
//! (Debian's `python3-prometheus-client`), which also adds what only OpenMetrics has:
//! `_created` samples, exemplars, `# UNIT`, info and stateset families, `# EOF`.
//!
//! Both encodings of the same scrape are imported side by side (told apart by an
//! `extra_label`) and queried back: every text sample must come back with the same
//! labels and value from the OpenMetrics import, whose only extra series are the
//! OpenMetrics-only families, read as Prometheus 2.x stores them.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{client, free_port, now_ms, peer_binary, Peer, Tidemark};
use serde_json::Value as Json;

/// Debian's interpreter: the one `python3-prometheus-client` installs into.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Debian's python3 with the Prometheus client, or `None` (skip; a failure under CI).
fn python_with_client() -> Option<&'static str> {
    let ok = Command::new(DEBIAN_PYTHON)
        .args(["-c", "import prometheus_client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(DEBIAN_PYTHON);
    }
    if std::env::var_os("CI").is_some() {
        panic!("python3-prometheus-client is required under CI (scripts/install-deps installs it)");
    }
    eprintln!("SKIPPED: Debian's python3-prometheus-client is not installed");
    None
}

fn scrape_node_exporter(dir: &Path) -> Option<String> {
    let exporter = peer_binary("prometheus-node-exporter")?;
    let port = free_port();
    let mut cmd = Command::new(exporter);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut ne = Peer::spawn("node_exporter", cmd, port, &dir.join("node_exporter.log"));
    ne.wait_http_ok("/metrics", Duration::from_secs(30));
    let resp = client()
        .get(ne.url("/metrics"))
        .header("Accept", "text/plain; version=0.0.4")
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    Some(resp.text().unwrap())
}

fn to_openmetrics(python: &str, text: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openmetrics/to_openmetrics.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "to_openmetrics.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn import(tm: &Tidemark, content_type: &str, src: &str, t_ms: i64, body: &str) -> (u16, String) {
    let resp = client()
        .post(tm.url("/api/v1/import/prometheus"))
        .query(&[
            ("extra_label", format!("src={src}")),
            ("timestamp", format!("{}", t_ms as f64 / 1000.0)),
        ])
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

/// `labels without src → value` of every series with `src`, at `t_ms`.
fn samples(tm: &Tidemark, src: &str, t_ms: i64) -> BTreeMap<String, f64> {
    let result = tm.query(&format!("{{src=\"{src}\"}}"), t_ms);
    let mut out = BTreeMap::new();
    for r in result.as_array().unwrap() {
        let mut metric = r["metric"].as_object().unwrap().clone();
        metric.remove("src");
        let value: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        assert!(
            out.insert(Json::Object(metric).to_string(), value)
                .is_none(),
            "duplicate series"
        );
    }
    out
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Sample lines of a text exposition (what a correct import must store one series each).
fn sample_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count()
}

fn key(pairs: &[(&str, &str)]) -> String {
    let map: serde_json::Map<String, Json> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
        .collect();
    Json::Object(map).to_string()
}

#[test]
fn openmetrics_from_a_real_scrape_matches_the_text_import() {
    let Some(python) = python_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(text) = scrape_node_exporter(dir.path()) else {
        return;
    };
    let openmetrics = to_openmetrics(python, &text);
    assert!(openmetrics.ends_with("# EOF\n"), "not OpenMetrics");

    let tm = Tidemark::start(&[]);
    let t_ms = now_ms() / 1000 * 1000;
    let (status, body) = import(&tm, "text/plain; version=0.0.4", "text", t_ms, &text);
    assert_eq!(status, 204, "{body}");
    let om_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    let (status, body) = import(&tm, om_type, "om", t_ms, &openmetrics);
    assert_eq!(status, 204, "{body}");

    let from_text = samples(&tm, "text", t_ms);
    let from_om = samples(&tm, "om", t_ms);
    assert_eq!(
        from_text.len(),
        sample_lines(&text),
        "every text sample line is one stored series"
    );
    for (labels, v) in &from_text {
        let om = from_om
            .get(labels)
            .unwrap_or_else(|| panic!("{labels} missing from the OpenMetrics import"));
        assert!(
            same_value(*v, *om),
            "{labels}: text {v} vs OpenMetrics {om}"
        );
    }

    // What only the OpenMetrics body has, as Prometheus 2.x stores it: counters as
    // `_total` plus a `_created` series, info as `_info` = 1, a stateset as one series
    // per state, exemplars dropped.
    let extra: BTreeMap<&String, f64> = from_om
        .iter()
        .filter(|(k, _)| !from_text.contains_key(*k))
        .map(|(k, v)| (k, *v))
        .collect();
    let expected_values = [
        (key(&[("__name__", "om_jobs_total"), ("queue", "a")]), 3.0),
        (key(&[("__name__", "om_jobs_total"), ("queue", "b")]), 1.5),
        (
            key(&[
                ("__name__", "om_build_info"),
                ("rev", "x\"y"),
                ("version", "1.0"),
            ]),
            1.0,
        ),
        (
            key(&[("__name__", "om_state"), ("om_state", "running")]),
            1.0,
        ),
        (
            key(&[("__name__", "om_state"), ("om_state", "stopped")]),
            0.0,
        ),
        (key(&[("__name__", "om_temp_celsius")]), 21.5),
        (
            key(&[("__name__", "om_lat_seconds_bucket"), ("le", "0.1")]),
            1.0,
        ),
        (
            key(&[("__name__", "om_lat_seconds_bucket"), ("le", "1.0")]),
            2.0,
        ),
        (
            key(&[("__name__", "om_lat_seconds_bucket"), ("le", "+Inf")]),
            2.0,
        ),
        (key(&[("__name__", "om_lat_seconds_count")]), 2.0),
        (key(&[("__name__", "om_lat_seconds_sum")]), 0.55),
    ];
    for (k, want) in &expected_values {
        assert_eq!(extra.get(k), Some(want), "{k} in {extra:?}");
    }
    let created = [
        key(&[("__name__", "om_jobs_created"), ("queue", "a")]),
        key(&[("__name__", "om_jobs_created"), ("queue", "b")]),
        key(&[("__name__", "om_lat_seconds_created")]),
    ];
    let now_s = t_ms as f64 / 1000.0;
    for k in &created {
        let v = extra.get(k).unwrap_or_else(|| panic!("{k} in {extra:?}"));
        assert!(
            (now_s - v).abs() < 3600.0,
            "{k}: creation time {v}, now {now_s}"
        );
    }
    assert_eq!(
        extra.len(),
        expected_values.len() + created.len(),
        "unexpected extra series: {extra:?}"
    );

    // Types and units from the OpenMetrics metadata lines.
    let meta = tm.get_json("/api/v1/metadata")["data"].clone();
    for (family, kind, unit) in [
        ("om_jobs", "counter", ""),
        ("om_build", "info", ""),
        ("om_state", "stateset", ""),
        ("om_temp_celsius", "gauge", "celsius"),
        ("om_lat_seconds", "histogram", "seconds"),
    ] {
        assert_eq!(meta[family][0]["type"], kind, "{family}: {}", meta[family]);
        assert_eq!(meta[family][0]["unit"], unit, "{family}: {}", meta[family]);
    }

    // A body cut off before `# EOF` is refused whole: OpenMetrics makes EOF mandatory
    // so that truncation is detectable.
    let cut = openmetrics.trim_end_matches("# EOF\n");
    let (status, body) = import(&tm, om_type, "cut", t_ms, cut);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("# EOF"), "{body}");
    assert!(samples(&tm, "cut", t_ms).is_empty());
}
