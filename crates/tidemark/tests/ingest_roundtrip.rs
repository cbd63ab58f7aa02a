//! Every ingestion protocol round trip through the real binary: write, then read back
//! through query, series, labels, export and metadata.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{client, now_ms, series, Tidemark};
use serde_json::Value as Json;

fn value_of(result: &Json) -> f64 {
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn post(t: &Tidemark, path: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, String) {
    let resp = client().post(t.url(path)).body(body).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn remote_write_then_query_series_labels_and_range() {
    let t = Tidemark::start(&[]);
    let base = now_ms() - 60_000;
    let samples: Vec<(i64, f64)> = (0..5).map(|i| (base + i * 10_000, i as f64)).collect();
    t.remote_write(&[
        series(
            &[("__name__", "rt_metric"), ("job", "a"), ("instance", "x:1")],
            &samples,
        ),
        series(
            &[("__name__", "rt_metric"), ("job", "b"), ("instance", "y:2")],
            &samples,
        ),
    ]);
    let last = base + 40_000;

    let r = t.query("rt_metric{job=\"a\"}", last);
    assert_eq!(r.as_array().unwrap().len(), 1, "{r}");
    assert_eq!(value_of(&r), 4.0);
    assert_eq!(value_of(&t.query("sum(rt_metric)", last)), 8.0);

    let range = t.get_json(&format!(
        "/api/v1/query_range?query=rt_metric{{job=\"b\"}}&start={}&end={}&step=10",
        base as f64 / 1000.0,
        last as f64 / 1000.0
    ));
    assert_eq!(range["data"]["resultType"], "matrix");
    let values = range["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 5, "{range}");
    assert_eq!(values[2][1], "2");

    let s = t.get_json("/api/v1/series?match[]=rt_metric");
    assert_eq!(s["data"].as_array().unwrap().len(), 2, "{s}");
    let labels = t.get_json("/api/v1/labels");
    for name in ["__name__", "instance", "job"] {
        assert!(
            labels["data"].as_array().unwrap().iter().any(|v| v == name),
            "{labels}"
        );
    }
    let values = t.get_json("/api/v1/label/job/values?match[]=rt_metric");
    assert_eq!(values["data"], serde_json::json!(["a", "b"]));
    // The same API under the VictoriaMetrics-style prefix.
    let prefixed = t.get_json("/prometheus/api/v1/label/job/values");
    assert_eq!(prefixed["data"], serde_json::json!(["a", "b"]));
    // Endpoints Grafana calls even though Tidemark has no exemplars or rules.
    assert_eq!(
        t.get_json("/api/v1/query_exemplars?query=rt_metric")["data"],
        serde_json::json!([])
    );
    assert_eq!(
        t.get_json("/api/v1/rules")["data"]["groups"],
        serde_json::json!([])
    );
    // POST form works like GET.
    let resp = client()
        .post(t.url("/api/v1/query"))
        .form(&[
            ("query", "count(rt_metric)"),
            ("time", &format!("{}", last / 1000)),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Json = resp.json().unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "2");

    assert!(t.metric("tidemark_ingested_samples_total{protocol=\"remote_write\"}") >= 10.0);
    assert!(t.metric("tidemark_query_duration_seconds_count{kind=\"instant\"}") >= 2.0);
}

#[test]
fn remote_write_v2_reports_written_counts_and_metadata() {
    let t = Tidemark::start(&[]);
    let ts = now_ms() - 1000;
    let md = tidemark_model::MetricMetadata {
        metric_family: "rw2_requests_total".into(),
        metric_type: tidemark_model::MetricType::Counter,
        help: "Requests.".into(),
        unit: String::new(),
    };
    let body = tidemark_protocols::remote_write::encode_v2(
        &[series(
            &[("__name__", "rw2_requests_total"), ("job", "v2")],
            &[(ts, 7.0)],
        )],
        &[md],
    );
    let resp = client()
        .post(t.url("/api/v1/write"))
        .header(
            "Content-Type",
            tidemark_protocols::remote_write::CONTENT_TYPE_V2,
        )
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "2.0.0")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(
        resp.headers()["X-Prometheus-Remote-Write-Samples-Written"],
        "1"
    );
    assert_eq!(
        resp.headers()["X-Prometheus-Remote-Write-Histograms-Written"],
        "0"
    );
    assert_eq!(value_of(&t.query("rw2_requests_total", ts)), 7.0);
    let md = t.get_json("/api/v1/metadata?metric=rw2_requests_total");
    assert_eq!(
        md["data"]["rw2_requests_total"][0]["type"], "counter",
        "{md}"
    );
    assert_eq!(md["data"]["rw2_requests_total"][0]["help"], "Requests.");
}

#[test]
fn text_jsonl_influx_and_opentsdb_round_trips() {
    let port = common::free_port();
    let telnet_addr = format!("127.0.0.1:{port}");
    let t = Tidemark::start(&["--opentsdb-listen-addr", &telnet_addr]);
    let ts = now_ms() - 5000;
    let ts_s = ts / 1000;

    // Prometheus text with metadata, extra_label and gzip.
    let text = format!(
        "# HELP txt_temp Temperature.\n# TYPE txt_temp gauge\ntxt_temp{{room=\"a\"}} 21.5 {ts}\n"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let resp = client()
        .post(t.url("/api/v1/import/prometheus?extra_label=site=lab"))
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().unwrap());
    let r = t.query("txt_temp{site=\"lab\",room=\"a\"}", ts);
    assert_eq!(value_of(&r), 21.5, "{r}");
    assert_eq!(
        t.get_json("/api/v1/metadata")["data"]["txt_temp"][0]["type"],
        "gauge"
    );

    // JSON lines import (zstd), then export returns the same samples.
    let line = format!(
        r#"{{"metric":{{"__name__":"jl_m","k":"v"}},"values":[1,2.5,3],"timestamps":[{},{},{}]}}"#,
        ts - 2000,
        ts - 1000,
        ts
    );
    let resp = client()
        .post(t.url("/api/v1/import"))
        .header("Content-Encoding", "zstd")
        .body(zstd::encode_all(line.as_bytes(), 1).unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().unwrap());
    let exported = client()
        .get(t.url("/api/v1/export?match[]=jl_m"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let got: Json = serde_json::from_str(exported.trim()).unwrap();
    assert_eq!(
        got["metric"],
        serde_json::json!({"__name__": "jl_m", "k": "v"})
    );
    assert_eq!(got["values"], serde_json::json!([1, 2.5, 3]));
    assert_eq!(
        got["timestamps"],
        serde_json::json!([ts - 2000, ts - 1000, ts])
    );

    // Influx line protocol, both API versions; `db` becomes a label.
    let (code, body) = post(
        &t,
        "/write?db=telegraf&precision=s",
        format!("cpu,host=h1 usage=0.5,idle=99i {ts_s}\n"),
    );
    assert_eq!(code, 204, "{body}");
    assert_eq!(
        value_of(&t.query("cpu_usage{host=\"h1\",db=\"telegraf\"}", ts_s * 1000)),
        0.5
    );
    assert_eq!(
        value_of(&t.query("cpu_idle{host=\"h1\"}", ts_s * 1000)),
        99.0
    );
    let (code, body) = post(
        &t,
        "/api/v2/write?bucket=b2&precision=ms",
        format!("mem free=3 {ts}\n"),
    );
    assert_eq!(code, 204, "{body}");
    assert_eq!(value_of(&t.query("mem_free{db=\"b2\"}", ts)), 3.0);

    // OpenTSDB HTTP and telnet.
    let (code, body) = post(
        &t,
        "/api/put",
        format!(
            r#"[{{"metric":"sys.load","timestamp":{ts_s},"value":1.25,"tags":{{"host":"h2"}}}}]"#
        ),
    );
    assert_eq!(code, 204, "{body}");
    assert_eq!(
        value_of(&t.query("{__name__=\"sys.load\",host=\"h2\"}", ts_s * 1000)),
        1.25
    );
    // A malformed line between two good ones is rejected alone; both good lines are stored.
    let mut sock = TcpStream::connect(&telnet_addr).unwrap();
    sock.write_all(
        format!(
            "put tel.metric {ts_s} 42 host=h3\nput tel.metric notanumber\nput tel.metric {} 43 host=h3\n",
            ts_s + 1
        )
        .as_bytes(),
    )
    .unwrap();
    drop(sock);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.query("{__name__=\"tel.metric\"}", (ts_s + 1) * 1000);
        // The counter is bumped just after the append returns, so wait for both.
        let counted = t.metric("tidemark_ingested_samples_total{protocol=\"opentsdb_telnet\"}");
        if !r.as_array().unwrap().is_empty() && counted >= 2.0 {
            assert_eq!(value_of(&r), 43.0);
            assert_eq!(
                value_of(&t.query("{__name__=\"tel.metric\"}", ts_s * 1000)),
                42.0,
                "the line before the malformed one was dropped"
            );
            assert_eq!(
                t.metric(
                    "tidemark_rejected_requests_total{handler=\"opentsdb_telnet\",reason=\"parse\"}"
                ),
                1.0,
                "the malformed line is counted once"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "telnet data never arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    for protocol in [
        "prometheus_text",
        "jsonline",
        "influx",
        "opentsdb_http",
        "opentsdb_telnet",
    ] {
        assert!(
            t.metric(&format!(
                "tidemark_ingested_samples_total{{protocol=\"{protocol}\"}}"
            )) >= 1.0,
            "{protocol}"
        );
    }
    let all = t.get_json("/api/v1/series?match[]={__name__=~\".%2B\"}");
    assert!(all["data"].as_array().unwrap().len() >= 7, "{all}");
}
