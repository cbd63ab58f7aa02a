//! Grafana compatibility without Grafana: replays the HTTP requests that Grafana's
//! Prometheus data source sends (as its `pkg/promlib` client builds them: POST forms
//! for queries, labels and series by default, GET for label values, metadata and
//! buildinfo) against Tidemark, at both base URLs a user may configure, and checks
//! the response shapes Grafana parses. Grafana itself is not packaged in Debian and
//! is not run here.

mod common;

use common::{client, now_ms, Tidemark};
use serde_json::Value as Json;

/// What Grafana sends with every request (the values are not interpreted).
const GRAFANA_HEADERS: [(&str, &str); 2] =
    [("User-Agent", "Grafana/11.0.0"), ("X-Grafana-Org-Id", "1")];

/// Grafana formats times as Unix seconds with the shortest exact fraction.
fn grafana_time(ms: i64) -> String {
    let secs = ms as f64 / 1000.0;
    format!("{secs}")
}

fn post_form(tm: &Tidemark, base: &str, path: &str, form: &[(&str, &str)]) -> Json {
    let mut req = client().post(tm.url(&format!("{base}{path}")));
    for (k, v) in GRAFANA_HEADERS {
        req = req.header(k, v);
    }
    let resp = req.form(form).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert_eq!(status, 200, "POST {base}{path} {form:?}: {text}");
    success_data(&text, path)
}

fn get(tm: &Tidemark, base: &str, path: &str, query: &[(&str, &str)]) -> Json {
    let mut req = client().get(tm.url(&format!("{base}{path}")));
    for (k, v) in GRAFANA_HEADERS {
        req = req.header(k, v);
    }
    let resp = req.query(query).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert_eq!(status, 200, "GET {base}{path} {query:?}: {text}");
    success_data(&text, path)
}

/// The `data` of a `{"status":"success","data":...}` envelope.
fn success_data(text: &str, what: &str) -> Json {
    let body: Json =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: bad JSON {e}: {text}"));
    assert_eq!(body["status"], "success", "{what}: {body}");
    body["data"].clone()
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("want an array of strings, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// Loads two counters with metadata through the text import (which keeps `# HELP` and
/// `# TYPE`), ten samples 15 s apart ending at `end_ms`.
fn load(tm: &Tidemark, end_ms: i64) {
    let mut body = String::from(
        "# HELP gf_requests_total Requests served.\n# TYPE gf_requests_total counter\n",
    );
    for k in 0..10i64 {
        let t = end_ms - (9 - k) * 15_000;
        for (job, per_step) in [("api", 3), ("web", 5)] {
            body.push_str(&format!(
                "gf_requests_total{{job=\"{job}\",instance=\"h1\"}} {} {t}\n",
                k * per_step
            ));
        }
        body.push_str(&format!("gf_temperature_celsius{{job=\"api\"}} 21.5 {t}\n"));
    }
    let resp = client()
        .post(tm.url("/api/v1/import/prometheus"))
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().unwrap());
}

#[test]
fn grafana_prometheus_data_source_requests() {
    let tm = Tidemark::start(&[]);
    let end_ms = now_ms() / 1000 * 1000;
    let start_ms = end_ms - 3_600_000;
    load(&tm, end_ms);
    let (start, end) = (grafana_time(start_ms), grafana_time(end_ms));

    // Both base URLs a data source may be configured with.
    for base in ["", "/prometheus"] {
        // "Save & test": an instant `1+1` at time 4 (the health check's fixed range 1s..4s).
        let data = post_form(
            &tm,
            base,
            "/api/v1/query",
            &[("query", "1+1"), ("time", "4")],
        );
        assert_eq!(data["resultType"], "scalar");
        assert_eq!(data["result"], serde_json::json!([4, "2"]));

        // Heuristics: buildinfo without `features` means "Prometheus" (not Mimir).
        let data = get(&tm, base, "/api/v1/status/buildinfo", &[]);
        assert!(
            data["version"].as_str().is_some_and(|v| !v.is_empty()),
            "{data}"
        );
        assert!(
            data.get("features")
                .is_none_or(|f| f.as_object().is_some_and(|o| o.is_empty())),
            "{data}"
        );

        // Query editor: label names (POST form), metric names and label values (GET).
        let names = strings(&post_form(
            &tm,
            base,
            "/api/v1/labels",
            &[("start", &start), ("end", &end)],
        ));
        for want in ["__name__", "instance", "job"] {
            assert!(names.contains(&want.to_string()), "{names:?}");
        }
        let metrics = strings(&get(
            &tm,
            base,
            "/api/v1/label/__name__/values",
            &[("start", &start), ("end", &end)],
        ));
        assert_eq!(metrics, vec!["gf_requests_total", "gf_temperature_celsius"]);
        let jobs = strings(&get(
            &tm,
            base,
            "/api/v1/label/job/values",
            &[
                ("match[]", "gf_requests_total"),
                ("start", &start),
                ("end", &end),
            ],
        ));
        assert_eq!(jobs, vec!["api", "web"]);

        // Series for the label browser and ad-hoc filters (POST form).
        let series = post_form(
            &tm,
            base,
            "/api/v1/series",
            &[
                ("match[]", "gf_requests_total{job=\"api\"}"),
                ("start", &start),
                ("end", &end),
            ],
        );
        assert_eq!(
            series,
            serde_json::json!([{"__name__": "gf_requests_total", "instance": "h1", "job": "api"}])
        );

        // Metric metadata for autocompletion hints.
        let meta = get(&tm, base, "/api/v1/metadata", &[]);
        assert_eq!(
            meta["gf_requests_total"][0]["type"], "counter",
            "metadata: {meta}"
        );
        assert_eq!(meta["gf_requests_total"][0]["help"], "Requests served.");

        // A panel: range query as a POST form, step in seconds, Grafana's query timeout.
        let data = post_form(
            &tm,
            base,
            "/api/v1/query_range",
            &[
                ("query", "sum by (job) (rate(gf_requests_total[1m]))"),
                ("start", &grafana_time(end_ms - 60_000)),
                ("end", &end),
                ("step", "15"),
                ("timeout", "60s"),
            ],
        );
        assert_eq!(data["resultType"], "matrix");
        let result = data["result"].as_array().unwrap();
        assert_eq!(result.len(), 2, "{data}");
        for (series, per_second) in result.iter().zip([3.0 / 15.0, 5.0 / 15.0]) {
            let values = series["values"].as_array().unwrap();
            assert_eq!(values.len(), 5, "{series}");
            for point in values {
                assert!(point[0].is_number(), "timestamps are numbers: {point}");
                let v: f64 = point[1]
                    .as_str()
                    .expect("values are strings")
                    .parse()
                    .unwrap();
                assert!((v - per_second).abs() < 1e-9, "{series}");
            }
        }

        // An instant panel (table/stat) as a POST form.
        let data = post_form(
            &tm,
            base,
            "/api/v1/query",
            &[("query", "gf_temperature_celsius"), ("time", &end)],
        );
        assert_eq!(data["resultType"], "vector");
        assert_eq!(data["result"][0]["value"][1], "21.5");

        // Exemplars toggle: an empty list, not an error.
        let data = post_form(
            &tm,
            base,
            "/api/v1/query_exemplars",
            &[
                ("query", "gf_requests_total"),
                ("start", &start),
                ("end", &end),
            ],
        );
        assert!(data.is_array(), "{data}");
    }

    // A query error keeps Prometheus' error shape, which Grafana shows to the user.
    let resp = client()
        .post(tm.url("/api/v1/query_range"))
        .form(&[
            ("query", "sum(("),
            ("start", "1"),
            ("end", "2"),
            ("step", "1"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Json = resp.json().unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
}
