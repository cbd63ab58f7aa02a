//! Bad input on every decoding endpoint: garbage, truncated bodies, wrong content types
//! (415) and oversized bodies (413) get a 4xx with a JSON error, are counted in
//! `/metrics`, and leave previously stored data queryable.

mod common;

use std::io::Write;

use common::{client, now_ms, series, Tidemark};
use serde_json::Value as Json;

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    status: u16,
    /// `handler` label of the rejection counter.
    handler: &'static str,
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn rejected_total(t: &Tidemark, handler: &str) -> f64 {
    let text = client()
        .get(t.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tidemark_rejected_requests_total{")
                && l.contains(&format!("handler=\"{handler}\""))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn every_decoder_rejects_bad_input_cleanly() {
    // 64 KiB compressed, 1 MiB decompressed: small enough to trip with test bodies.
    let t = Tidemark::start(&[
        "--max-request-body-bytes",
        "64KiB",
        "--max-decompressed-body-bytes",
        "1MiB",
    ]);
    let ts = now_ms() - 1000;
    t.remote_write(&[series(
        &[("__name__", "survivor"), ("job", "j")],
        &[(ts, 5.0)],
    )]);

    let valid_rw =
        tidemark_protocols::remote_write::encode_v1(&[series(&[("__name__", "x")], &[(ts, 1.0)])]);
    let truncated_rw = valid_rw[..valid_rw.len() / 2].to_vec();
    let rw = |ct: &'static str| vec![("Content-Type", ct), ("Content-Encoding", "snappy")];
    let big_text = b"a 1\n".repeat(40_000); // 160 KB > 64 KiB
    let bomb = gzip(&vec![b'#'; 4 << 20]); // 4 MiB of comment lines > 1 MiB decompressed
    let cases = vec![
        Case {
            name: "rw garbage",
            path: "/api/v1/write",
            headers: rw("application/x-protobuf"),
            body: b"\xff\xfe garbage".to_vec(),
            status: 400,
            handler: "remote_write",
        },
        Case {
            name: "rw truncated",
            path: "/api/v1/write",
            headers: rw("application/x-protobuf"),
            body: truncated_rw,
            status: 400,
            handler: "remote_write",
        },
        Case {
            name: "rw wrong content type",
            path: "/api/v1/write",
            headers: rw("application/json"),
            body: valid_rw.clone(),
            status: 415,
            handler: "remote_write",
        },
        Case {
            name: "rw unknown proto",
            path: "/api/v1/write",
            headers: rw("application/x-protobuf;proto=foo.Bar"),
            body: valid_rw.clone(),
            status: 415,
            handler: "remote_write",
        },
        Case {
            name: "rw wrong encoding",
            path: "/api/v1/write",
            headers: vec![
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "br"),
            ],
            body: valid_rw,
            status: 415,
            handler: "remote_write",
        },
        Case {
            name: "rw oversized",
            path: "/api/v1/write",
            headers: rw("application/x-protobuf"),
            body: vec![0u8; 100_000],
            status: 413,
            handler: "remote_write",
        },
        Case {
            name: "text garbage",
            path: "/api/v1/import/prometheus",
            headers: vec![],
            body: b"metric{ 1 2 3\n".to_vec(),
            status: 400,
            handler: "prometheus_text",
        },
        Case {
            name: "text truncated",
            path: "/api/v1/import/prometheus",
            headers: vec![],
            body: b"up{job=\"a".to_vec(),
            status: 400,
            handler: "prometheus_text",
        },
        Case {
            name: "text oversized",
            path: "/api/v1/import/prometheus",
            headers: vec![],
            body: big_text,
            status: 413,
            handler: "prometheus_text",
        },
        Case {
            name: "text gzip bomb",
            path: "/api/v1/import/prometheus",
            headers: vec![("Content-Encoding", "gzip")],
            body: bomb,
            status: 413,
            handler: "prometheus_text",
        },
        Case {
            name: "text bad gzip",
            path: "/api/v1/import/prometheus",
            headers: vec![("Content-Encoding", "gzip")],
            body: b"not gzip".to_vec(),
            status: 400,
            handler: "prometheus_text",
        },
        Case {
            name: "text bad encoding",
            path: "/api/v1/import/prometheus",
            headers: vec![("Content-Encoding", "br")],
            body: b"a 1\n".to_vec(),
            status: 415,
            handler: "prometheus_text",
        },
        Case {
            name: "jsonl garbage",
            path: "/api/v1/import",
            headers: vec![],
            body: b"{not json".to_vec(),
            status: 400,
            handler: "jsonline",
        },
        Case {
            name: "jsonl truncated",
            path: "/api/v1/import",
            headers: vec![],
            body: br#"{"metric":{"__name__":"a"},"values":[1],"timest"#.to_vec(),
            status: 400,
            handler: "jsonline",
        },
        Case {
            name: "jsonl mismatched lengths",
            path: "/api/v1/import",
            headers: vec![],
            body: br#"{"metric":{"__name__":"a"},"values":[1,2],"timestamps":[1]}"#.to_vec(),
            status: 400,
            handler: "jsonline",
        },
        Case {
            name: "influx garbage",
            path: "/write",
            headers: vec![],
            body: b"cpu,host= =\n".to_vec(),
            status: 400,
            handler: "influx",
        },
        Case {
            name: "influx truncated",
            path: "/write",
            headers: vec![],
            body: b"cpu,host=a usage=".to_vec(),
            status: 400,
            handler: "influx",
        },
        Case {
            name: "influx bad precision",
            path: "/write?precision=weeks",
            headers: vec![],
            body: b"cpu v=1\n".to_vec(),
            status: 400,
            handler: "influx",
        },
        Case {
            name: "opentsdb garbage",
            path: "/api/put",
            headers: vec![],
            body: b"[{\"metric\":".to_vec(),
            status: 400,
            handler: "opentsdb_http",
        },
        Case {
            name: "opentsdb no value",
            path: "/api/put",
            headers: vec![],
            body: br#"{"metric":"m","timestamp":1,"tags":{"a":"b"}}"#.to_vec(),
            status: 400,
            handler: "opentsdb_http",
        },
    ];
    for case in cases {
        let before = rejected_total(&t, case.handler);
        let mut req = client().post(t.url(case.path)).body(case.body);
        for (k, v) in &case.headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert_eq!(status, case.status, "{}: {text}", case.name);
        let body: Json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", case.name));
        assert_eq!(body["status"], "error", "{}", case.name);
        assert!(
            !body["error"].as_str().unwrap_or("").is_empty(),
            "{}: {text}",
            case.name
        );
        assert_eq!(
            rejected_total(&t, case.handler),
            before + 1.0,
            "{}: rejection not counted",
            case.name
        );
    }

    // Query endpoints: bad PromQL and bad parameters are 400 bad_data.
    for q in [
        "/api/v1/query?query=sum(",
        "/api/v1/query_range?query=up&start=10&end=5&step=1",
        "/api/v1/query_range?query=up&start=0&end=10&step=0",
        "/api/v1/query?query=up&time=yesterday",
        "/api/v1/series",
    ] {
        let resp = client().get(t.url(q)).send().unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{q}");
        let body: Json = resp.json().unwrap();
        assert_eq!(body["errorType"], "bad_data", "{q}");
    }

    let r = t.query("survivor", ts);
    assert_eq!(
        r[0]["value"][1], "5",
        "stored data must stay queryable: {r}"
    );
}
