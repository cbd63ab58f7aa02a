//! `admin/tsdb/delete_series` end to end, with and without `start`/`end`: the same data
//! and the same deletions go into Tidemark and (when installed) Debian's Prometheus
//! 2.42, and the raw samples left (`metric[15m]`) must be identical; a whole-series
//! delete removes the series; everything holds after a restart.

mod common;

use common::{client, now_ms, remote_write_to, series, start_prometheus, Tidemark};
use serde_json::Value as Json;

const STEP_MS: i64 = 10_000;
const SAMPLES: i64 = 60;

fn delete(base_url: &str, params: &[(&str, String)]) -> (u16, String) {
    let resp = client()
        .post(format!("{base_url}/api/v1/admin/tsdb/delete_series"))
        .query(params)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

/// `labels → [timestamp ms]` of the raw samples `expr[15m]` returns at `t_ms`.
fn raw_samples(base_url: &str, expr: &str, t_ms: i64) -> Vec<(String, Vec<i64>)> {
    let resp = client()
        .get(format!("{base_url}/api/v1/query"))
        .query(&[
            ("query", format!("{expr}[15m]")),
            ("time", format!("{}", t_ms as f64 / 1000.0)),
        ])
        .send()
        .unwrap();
    let body: Json = resp.json().unwrap();
    assert_eq!(body["status"], "success", "{body}");
    let mut out: Vec<(String, Vec<i64>)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let ts = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
                .collect();
            (r["metric"].to_string(), ts)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn delete_series_with_and_without_a_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path(), &["--web.enable-admin-api"]);
    let mut tm = Tidemark::start(&[]);
    let t_end = now_ms() / 1000 * 1000 - STEP_MS;
    let t0 = t_end - (SAMPLES - 1) * STEP_MS;
    let samples: Vec<(i64, f64)> = (0..SAMPLES).map(|k| (t0 + k * STEP_MS, k as f64)).collect();
    let data: Vec<_> = ["0", "1", "2"]
        .iter()
        .map(|i| series(&[("__name__", "del_a"), ("i", i)], &samples))
        .chain([series(&[("__name__", "del_b")], &samples)])
        .collect();
    let mut targets = vec![tm.url("")];
    if let Some(p) = &prom {
        targets.push(p.url(""));
    }
    for base in &targets {
        remote_write_to(base, &data);
    }

    // Samples 10..=19 of del_a{i="0"} (both ends inclusive), and every del_a sample
    // from 50 on (open end); del_b entirely.
    let secs = |k: i64| format!("{}", (t0 + k * STEP_MS) / 1000);
    let deletions: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("match[]", r#"del_a{i="0"}"#.to_string()),
            ("start", secs(10)),
            ("end", secs(19)),
        ],
        vec![("match[]", "del_a".to_string()), ("start", secs(50))],
        vec![("match[]", "del_b".to_string())],
    ];
    for base in &targets {
        for params in &deletions {
            let (status, body) = delete(base, params);
            assert_eq!(status, 204, "{base} {params:?}: {body}");
        }
    }

    let t_query = t_end + 1000;
    let expect_a = |i: &str| -> Vec<i64> {
        (0..50)
            .filter(|k| i != "0" || !(10..=19).contains(k))
            .map(|k| t0 + k * STEP_MS)
            .collect()
    };
    let check = |tm: &Tidemark| {
        let got = raw_samples(&tm.url(""), "del_a", t_query);
        assert_eq!(got.len(), 3);
        for ((labels, ts), i) in got.iter().zip(["0", "1", "2"]) {
            assert!(labels.contains(&format!("\"i\":\"{i}\"")), "{labels}");
            assert_eq!(ts, &expect_a(i), "{labels}");
        }
        assert!(raw_samples(&tm.url(""), "del_b", t_query).is_empty());
    };
    check(&tm);
    if let Some(p) = &prom {
        for expr in ["del_a", "del_b"] {
            assert_eq!(
                raw_samples(&tm.url(""), expr, t_query),
                raw_samples(&p.url(""), expr, t_query),
                "{expr}: tidemark vs prometheus after the same deletions"
            );
        }
    }

    // A reversed range is refused; nothing changes.
    let (status, body) = delete(
        &tm.url(""),
        &[
            ("match[]", "del_a".to_string()),
            ("start", secs(30)),
            ("end", secs(20)),
        ],
    );
    assert_eq!(status, 400, "{body}");

    // Deletions are durable, and new samples of a deleted series come back.
    tm.restart();
    check(&tm);
    tm.remote_write(&[series(&[("__name__", "del_b")], &[(t_end, 7.0)])]);
    assert_eq!(
        raw_samples(&tm.url(""), "del_b", t_query)[0].1,
        vec![t_end],
        "a whole-series delete does not block new data"
    );
}
