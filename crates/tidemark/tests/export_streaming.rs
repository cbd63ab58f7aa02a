//! `/api/v1/export` streams: a large export arrives as a chunked body (no
//! `Content-Length`, so it was not assembled in memory first), every matching series
//! exactly once with all its samples in VictoriaMetrics' JSON-lines form, including a
//! metric with more series than one read batch; `start`/`end` and overlapping
//! `match[]` are honoured; a client that hangs up mid-export leaves the server healthy.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::{client, now_ms, series, Tidemark};
use serde_json::Value as Json;

/// More than the server's per-select batch (1,000 series), so the per-series path runs.
const WIDE_SERIES: usize = 1_500;
const NARROW_SERIES: usize = 300;
const SAMPLES: i64 = 20;
const STEP_MS: i64 = 10_000;

/// Writes `exp_wide` and `exp_narrow`; sample k of series i has value `i * 1000 + k`.
fn load(tm: &Tidemark, t0: i64) {
    for (name, n) in [("exp_wide", WIDE_SERIES), ("exp_narrow", NARROW_SERIES)] {
        let all: Vec<_> = (0..n)
            .map(|i| {
                let id = format!("{i:05}");
                let samples: Vec<(i64, f64)> = (0..SAMPLES)
                    .map(|k| (t0 + k * STEP_MS, (i * 1000) as f64 + k as f64))
                    .collect();
                series(&[("__name__", name), ("id", id.as_str())], &samples)
            })
            .collect();
        for chunk in all.chunks(250) {
            tm.remote_write(chunk);
        }
    }
    // Two series of one metric that share no label but the name (read one by one).
    let samples: Vec<(i64, f64)> = (0..SAMPLES).map(|k| (t0 + k * STEP_MS, 0.5)).collect();
    tm.remote_write(&[
        series(&[("__name__", "exp_mixed"), ("a", "1")], &samples),
        series(&[("__name__", "exp_mixed"), ("b", "1")], &samples),
    ]);
}

/// `(name, id) → (timestamps, values)` from a JSON-lines body; panics on a duplicate.
fn parse(body: &str) -> BTreeMap<(String, String), (Vec<i64>, Vec<f64>)> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let j: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let name = j["metric"]["__name__"].as_str().unwrap().to_string();
        let id = match j["metric"]["id"].as_str() {
            Some(id) => id.to_string(),
            None => j["metric"].to_string(),
        };
        let ts: Vec<i64> = j["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap())
            .collect();
        let vs: Vec<f64> = j["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            out.insert((name, id), (ts, vs)).is_none(),
            "series exported twice: {line}"
        );
    }
    out
}

fn export(tm: &Tidemark, params: &[(&str, String)]) -> reqwest::blocking::Response {
    let resp = client()
        .get(tm.url("/api/v1/export"))
        .query(params)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp
}

#[test]
fn large_export_is_streamed_series_by_series() {
    let tm = Tidemark::start(&[]);
    let t0 = now_ms() / 1000 * 1000 - SAMPLES * STEP_MS;
    load(&tm, t0);

    // Overlapping selectors: every series still appears once.
    let resp = export(
        &tm,
        &[
            ("match[]", r#"{__name__=~"exp_.+"}"#.to_string()),
            ("match[]", "exp_narrow".to_string()),
        ],
    );
    assert!(
        resp.headers().get("content-length").is_none(),
        "a streamed body has no Content-Length"
    );
    assert_eq!(
        resp.headers()
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("chunked")
    );
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/stream+json")
    );
    let got = parse(&resp.text().unwrap());
    assert_eq!(got.len(), WIDE_SERIES + NARROW_SERIES + 2);
    let mixed: Vec<_> = got.keys().filter(|(n, _)| n == "exp_mixed").collect();
    assert_eq!(mixed.len(), 2, "{mixed:?}");
    for ((name, id), (ts, vs)) in got.iter().filter(|((n, _), _)| n != "exp_mixed") {
        let i: usize = id.parse().unwrap();
        assert!(name == "exp_wide" || i < NARROW_SERIES);
        let want_ts: Vec<i64> = (0..SAMPLES).map(|k| t0 + k * STEP_MS).collect();
        let want_vs: Vec<f64> = (0..SAMPLES).map(|k| (i * 1000) as f64 + k as f64).collect();
        assert_eq!(ts, &want_ts, "{name} {id}");
        assert_eq!(vs, &want_vs, "{name} {id}");
    }

    // start/end cut samples, on both read paths.
    let start = t0 + 5 * STEP_MS;
    let end = t0 + 9 * STEP_MS;
    let resp = export(
        &tm,
        &[
            (
                "match[]",
                r#"{__name__=~"exp_.+",id=~"0000[0-4]"}"#.to_string(),
            ),
            ("start", format!("{}", start / 1000)),
            ("end", format!("{}", end / 1000)),
        ],
    );
    let got = parse(&resp.text().unwrap());
    assert_eq!(got.len(), 10);
    for (ts, _) in got.values() {
        assert_eq!(ts, &(5..=9).map(|k| t0 + k * STEP_MS).collect::<Vec<_>>());
    }

    // A client that reads one chunk and hangs up: the server stops and stays healthy.
    let mut conn = TcpStream::connect(("127.0.0.1", tm.port)).unwrap();
    write!(
        conn,
        "GET /api/v1/export?match[]=exp_wide HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 4096];
    let n = conn.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    drop(conn);
    let result = tm.query("count(exp_wide)", t0 + SAMPLES * STEP_MS);
    assert_eq!(result[0]["value"][1], WIDE_SERIES.to_string());

    // Errors are still reported with a status before streaming starts.
    let resp = client()
        .get(tm.url("/api/v1/export"))
        .query(&[("match[]", "exp_wide{")])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
