//! Native histograms end to end: remote write 1.0 and 2.0 bodies (built with our own
//! encoders) are stored, survive a restart, and come back from /api/v1/query and
//! /api/v1/query_range in Prometheus' JSON form; inconsistent histograms get 400 and
//! are counted.

mod common;

use common::{client, now_ms, series, Tidemark};
use serde_json::{json, Value as Json};
use tidemark_model::{BucketSpan, FloatHistogram, Labels};
use tidemark_protocols::remote_write::{
    encode_v1_with_histograms, encode_v2_with_histograms, HistogramSeries,
};

/// Schema 0, buckets (0.5,1]=2, (1,2]=1, (4,8]=2 plus 1 in the zero bucket.
fn histogram(scale: f64) -> FloatHistogram {
    FloatHistogram {
        schema: 0,
        zero_threshold: 0.001,
        zero_count: scale,
        count: 6.0 * scale,
        sum: 12.5 * scale,
        positive_spans: vec![
            BucketSpan {
                offset: 0,
                length: 2,
            },
            BucketSpan {
                offset: 1,
                length: 1,
            },
        ],
        positive_buckets: vec![2.0 * scale, scale, 2.0 * scale],
        ..Default::default()
    }
}

/// What Prometheus renders for `histogram(scale)`.
fn rendered(scale: f64) -> Json {
    let n = |v: f64| Json::String(format!("{v}"));
    json!({
        "count": n(6.0 * scale),
        "sum": n(12.5 * scale),
        "buckets": [
            [3, "-0.001", "0.001", n(scale)],
            [0, "0.5", "1", n(2.0 * scale)],
            [0, "1", "2", n(scale)],
            [0, "4", "8", n(2.0 * scale)],
        ]
    })
}

fn hseries(job: &str, samples: Vec<(i64, FloatHistogram)>) -> HistogramSeries {
    HistogramSeries {
        labels: Labels::from_pairs([("__name__", "rpc_seconds"), ("job", job)]),
        samples,
    }
}

fn post(t: &Tidemark, v2: bool, body: Vec<u8>) -> reqwest::blocking::Response {
    let (ct, version) = if v2 {
        (
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            "2.0.0",
        )
    } else {
        ("application/x-protobuf", "0.1.0")
    };
    client()
        .post(t.url("/api/v1/write"))
        .header("Content-Type", ct)
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", version)
        .body(body)
        .send()
        .unwrap()
}

fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn query_range(t: &Tidemark, expr: &str, start: i64, end: i64) -> Json {
    let resp = client()
        .get(t.url("/api/v1/query_range"))
        .query(&[
            ("query", expr),
            ("start", &secs(start)),
            ("end", &secs(end)),
            ("step", "15"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Json = resp.json().unwrap();
    body["data"]["result"].clone()
}

fn rejected(t: &Tidemark) -> f64 {
    let text = client()
        .get(t.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tidemark_rejected_requests_total{")
                && l.contains("handler=\"remote_write\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn remote_written_histograms_come_back_from_query_range() {
    let mut t = Tidemark::start(&[]);
    let t0 = (now_ms() - 600_000) / 15_000 * 15_000;

    // 2.0: a histogram series (two samples) next to a float series.
    let body = encode_v2_with_histograms(
        &[series(&[("__name__", "up"), ("job", "v2")], &[(t0, 1.0)])],
        &[hseries(
            "v2",
            vec![(t0, histogram(1.0)), (t0 + 15_000, histogram(2.0))],
        )],
        &[],
    );
    let resp = post(&t, true, body);
    assert_eq!(resp.status().as_u16(), 204);
    let header = |name: &str| resp.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("X-Prometheus-Remote-Write-Histograms-Written"), "2");
    assert_eq!(header("X-Prometheus-Remote-Write-Samples-Written"), "1");

    // 1.0: histograms in TimeSeries field 4; float counts (0.5) take the float form.
    let body = encode_v1_with_histograms(&[], &[hseries("v1", vec![(t0, histogram(0.5))])]);
    assert_eq!(post(&t, false, body).status().as_u16(), 204);

    let check = |t: &Tidemark| {
        let result = query_range(t, "rpc_seconds", t0, t0 + 15_000);
        assert_eq!(
            result,
            json!([
                {
                    "metric": {"__name__": "rpc_seconds", "job": "v1"},
                    "histograms": [[t0 / 1000, rendered(0.5)], [(t0 + 15_000) / 1000, rendered(0.5)]]
                },
                {
                    "metric": {"__name__": "rpc_seconds", "job": "v2"},
                    "histograms": [[t0 / 1000, rendered(1.0)], [(t0 + 15_000) / 1000, rendered(2.0)]]
                }
            ])
        );
        let instant = t.query("rpc_seconds{job=\"v2\"}", t0 + 15_000);
        assert_eq!(
            instant[0]["histogram"],
            json!([(t0 + 15_000) / 1000, rendered(2.0)])
        );
        assert!(instant[0].get("value").is_none());
    };
    check(&t);
    // Flushed to parts on shutdown and read back from them.
    t.restart();
    check(&t);
}

#[test]
fn inconsistent_histograms_are_rejected_with_400_and_counted() {
    let t = Tidemark::start(&[]);
    let t0 = now_ms() - 60_000;
    let mut spans_mismatch = histogram(1.0);
    spans_mismatch.positive_spans[1].length = 2;
    let mut bad_schema = histogram(1.0);
    bad_schema.schema = 9;
    let before = rejected(&t);
    let bodies = [
        (
            true,
            encode_v2_with_histograms(
                &[],
                &[hseries("a", vec![(t0, spans_mismatch.clone())])],
                &[],
            ),
        ),
        (
            false,
            encode_v1_with_histograms(&[], &[hseries("a", vec![(t0, spans_mismatch)])]),
        ),
        (
            true,
            encode_v2_with_histograms(&[], &[hseries("a", vec![(t0, bad_schema.clone())])], &[]),
        ),
        (
            false,
            encode_v1_with_histograms(
                &[series(&[("__name__", "up")], &[(t0, 1.0)])],
                &[hseries("a", vec![(t0, bad_schema)])],
            ),
        ),
    ];
    for (i, (v2, body)) in bodies.into_iter().enumerate() {
        let resp = post(&t, v2, body);
        assert_eq!(
            resp.status().as_u16(),
            400,
            "case {i}: {}",
            resp.text().unwrap()
        );
    }
    assert_eq!(rejected(&t) - before, 4.0);
    // Nothing of a rejected request is stored, floats included.
    assert_eq!(t.query("up", t0), json!([]));
    assert_eq!(t.query("rpc_seconds", t0), json!([]));
}
