//! API differential for the metadata endpoints: the same series are remote-written into
//! Debian's Prometheus (2.42) and into Tidemark, then `series`, `labels` and
//! `label/<name>/values` requests (with `match[]`, `start`, `end`, GET and POST) must
//! give the same answers, and bad requests the same status and `errorType`.
//! (`query` and `query_range` are compared by `promql_differential.rs`.)
//!
//! Time ranges are chosen where both systems are exact: ranges that cover the data, and
//! ranges days away from it. Inside one day Tidemark (like VictoriaMetrics) matches
//! series by the days they have samples in, while Prometheus uses chunk time ranges;
//! docs/api.md documents that difference.

mod common;

use common::{client, now_ms, remote_write_to, series, start_prometheus, Tidemark};
use serde_json::Value as Json;
use tidemark_model::TimeSeries;

const DAY_MS: i64 = 86_400_000;

/// 3 jobs × 3 instances of two metrics, plus an info metric on some, over 30 minutes.
fn data(end_ms: i64) -> Vec<TimeSeries> {
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|k| (end_ms - (119 - k) * 15_000, k as f64))
        .collect();
    let mut out = Vec::new();
    for job in ["api", "web", "db"] {
        for inst in ["i0", "i1", "i2"] {
            out.push(series(
                &[("__name__", "apid_up"), ("job", job), ("instance", inst)],
                &samples,
            ));
            for (method, code) in [("GET", "200"), ("POST", "500")] {
                out.push(series(
                    &[
                        ("__name__", "apid_requests_total"),
                        ("job", job),
                        ("instance", inst),
                        ("method", method),
                        ("code", code),
                    ],
                    &samples,
                ));
            }
        }
        out.push(series(
            &[
                ("__name__", "apid_build_info"),
                ("job", job),
                ("version", "1.2.3"),
                ("go_version", "go1.19"),
            ],
            &samples,
        ));
    }
    out
}

/// One request, as status and body with arrays sorted (neither API promises an order
/// for series; sorting makes label lists comparable too).
fn call(base_url: &str, path: &str, params: &[(&str, String)], post: bool) -> (u16, Json) {
    let url = format!("{base_url}{path}");
    let resp = if post {
        client().post(url).form(params).send().unwrap()
    } else {
        client().get(url).query(params).send().unwrap()
    };
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let mut body: Json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: bad JSON {e}: {text}"));
    if let Some(arr) = body.get_mut("data").and_then(Json::as_array_mut) {
        arr.sort_by_key(|v| v.to_string());
    }
    (status, body)
}

/// What must agree: the status, and `data` on success or `errorType` on error (error
/// messages are worded differently).
fn comparable(status: u16, body: &Json) -> Json {
    if status == 200 {
        serde_json::json!({"status": 200, "data": body["data"]})
    } else {
        serde_json::json!({"status": status, "errorType": body["errorType"]})
    }
}

#[test]
fn series_labels_and_label_values_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prom) = start_prometheus(dir.path(), &[]) else {
        return;
    };
    let tm = Tidemark::start(&[]);
    let end_ms = now_ms() / 1000 * 1000 - 60_000;
    let written = data(end_ms);
    remote_write_to(&prom.url(""), &written);
    remote_write_to(&tm.url(""), &written);

    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let covering = [
        ("start", secs(end_ms - 3_600_000)),
        ("end", secs(end_ms + 60_000)),
    ];
    let days_before = [
        ("start", secs(end_ms - 5 * DAY_MS)),
        ("end", secs(end_ms - 3 * DAY_MS)),
    ];
    let days_after = [
        ("start", secs(end_ms + 3 * DAY_MS)),
        ("end", secs(end_ms + 4 * DAY_MS)),
    ];
    let ranges: [&[(&str, String)]; 4] = [&[], &covering, &days_before, &days_after];
    let selectors: [&[&str]; 7] = [
        &["apid_up"],
        &[r#"apid_requests_total{job="api",method!="GET"}"#],
        &[r#"{__name__=~"apid_.+",instance="i1"}"#],
        &[r#"apid_up{job=~"a.*|db"}"#, r#"apid_build_info"#],
        &[r#"{job="web",code=~"5.."}"#],
        &[r#"apid_up{job="nope"}"#],
        &[],
    ];

    let mut requests: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
    for range in ranges {
        for sel in selectors {
            let mut params: Vec<(&str, String)> = range.to_vec();
            params.extend(sel.iter().map(|s| ("match[]", s.to_string())));
            requests.push(("/api/v1/series", params.clone()));
            requests.push(("/api/v1/labels", params.clone()));
            for name in ["__name__", "job", "version", "absent_label"] {
                let path: &str = match name {
                    "__name__" => "/api/v1/label/__name__/values",
                    "job" => "/api/v1/label/job/values",
                    "version" => "/api/v1/label/version/values",
                    _ => "/api/v1/label/absent_label/values",
                };
                requests.push((path, params.clone()));
            }
        }
    }
    // Bad requests: an invalid selector, an unparsable time, an empty selector.
    requests.push(("/api/v1/series", vec![("match[]", "apid_up{".to_string())]));
    requests.push(("/api/v1/labels", vec![("start", "yesterday".to_string())]));
    requests.push((
        "/api/v1/label/job/values",
        vec![("match[]", "{}".to_string())],
    ));

    let mut compared = 0;
    let mut differences = Vec::new();
    for (path, params) in &requests {
        // Label values are GET-only in Prometheus' API.
        let methods: &[bool] = if path.starts_with("/api/v1/label/") {
            &[false]
        } else {
            &[false, true]
        };
        for &post in methods {
            let (ps, pb) = call(&prom.url(""), path, params, post);
            let (ts, tb) = call(&tm.url(""), path, params, post);
            let (p, t) = (comparable(ps, &pb), comparable(ts, &tb));
            compared += 1;
            if p != t {
                differences.push(format!(
                    "{} {path} {params:?}:\n  prometheus {p}\n  tidemark   {t}",
                    if post { "POST" } else { "GET" }
                ));
            }
        }
    }
    println!(
        "api differential: {compared} requests compared, {} differ",
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} responses differ from Prometheus:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // Known divergence: for a reversed range (end before start) Prometheus 2.42's series
    // endpoint ignores the range and lists every match; Tidemark answers 400, as
    // Prometheus does for query_range (docs/api.md).
    let reversed = [
        ("match[]", "apid_up".to_string()),
        ("start", secs(end_ms)),
        ("end", secs(end_ms - 60_000)),
    ];
    let (ps, _) = call(&prom.url(""), "/api/v1/series", &reversed, false);
    let (ts, tb) = call(&tm.url(""), "/api/v1/series", &reversed, false);
    assert_eq!(ps, 200, "Prometheus changed: compare reversed ranges again");
    assert_eq!(ts, 400, "{tb}");
    assert_eq!(tb["errorType"], "bad_data");

    // The comparison is not vacuous: the covering range found every series.
    let (_, all) = call(
        &tm.url(""),
        "/api/v1/series",
        &[("match[]", r#"{__name__=~"apid_.+"}"#.to_string())],
        false,
    );
    assert_eq!(all["data"].as_array().unwrap().len(), written.len());
}
