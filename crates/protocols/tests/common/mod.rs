//! Shared helpers for the integration tests: valid seed bodies for every decoder, and
//! one entry point that runs every decoder on the same bytes.

#![allow(dead_code)]

use tidemark_model::{Labels, MetricMetadata, MetricType, Sample, TimeSeries, STALE_NAN};
use tidemark_protocols::{influx, jsonline, opentsdb, remote_write, text};

pub const LIMIT: usize = 1 << 20;

pub fn seed_series() -> Vec<TimeSeries> {
    vec![
        TimeSeries::new(
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("path", "/a\"b\\c"),
            ]),
            vec![
                Sample::new(1_700_000_000_000, 12.0),
                Sample::new(1_700_000_015_000, STALE_NAN),
            ],
        ),
        TimeSeries::new(
            Labels::from_pairs([("__name__", "temp.celsius"), ("room", "ké")]),
            vec![Sample::new(-5, -1.5e-7)],
        ),
    ]
}

pub fn seed_metadata() -> Vec<MetricMetadata> {
    vec![MetricMetadata {
        metric_family: "http_requests_total".into(),
        metric_type: MetricType::Counter,
        help: "Requests.".into(),
        unit: String::new(),
    }]
}

/// One valid body per decoder, keyed by the decoder's name in [`decode_with`].
pub fn seed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let series = seed_series();
    let metadata = seed_metadata();
    let mut jsonl = Vec::new();
    for s in &series {
        jsonline::write_series(s, &mut jsonl);
    }
    vec![
        ("remote_write_v1", remote_write::encode_v1_request(&tidemark_protocols::WriteRequest { series: series.clone(), metadata: metadata.clone() })),
        ("remote_write_v2", remote_write::encode_v2(&series, &metadata)),
        ("text", text::encode(&series, &metadata).into_bytes()),
        (
            "text",
            b"# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"x\"} 0.67 1520879607.1\n# EOF\n".to_vec(),
        ),
        ("influx", b"cpu,host=a,region=eu usage=1.5,count=3i,up=t,s=\"x y\" 1700000000123456789\nmem free=2u\n".to_vec()),
        ("opentsdb_http", br#"[{"metric":"sys.cpu","timestamp":1346846400,"value":18,"tags":{"host":"web01"}}]"#.to_vec()),
        ("opentsdb_telnet", b"put sys.load 1346846400 0.5 host=web01 dc=lga\nput x 1346846400123 -Inf\n".to_vec()),
        ("jsonline", jsonl),
    ]
}

/// Runs the named decoder and checks the invariants of what it returned;
/// `Ok(n)` is the number of series it produced.
pub fn decode_with(decoder: &str, body: &[u8]) -> Result<usize, tidemark_protocols::DecodeError> {
    let series: Vec<TimeSeries> = match decoder {
        "remote_write_v1" => remote_write::decode_v1(body, LIMIT)?.series,
        "remote_write_v2" => {
            let d = remote_write::decode_v2(body, LIMIT)?;
            let mut all = d.request.series;
            all.extend(
                d.histograms
                    .into_iter()
                    .map(|h| TimeSeries::new(h.labels, Vec::new())),
            );
            all
        }
        "text" => text::parse_bytes(body, 0)?.series,
        "influx" => influx::parse(body, influx::Precision::Nanoseconds, 0)?,
        "opentsdb_http" => opentsdb::parse_http(body, 0)?,
        "opentsdb_telnet" => opentsdb::parse_telnet(&String::from_utf8_lossy(body))?,
        "jsonline" => jsonline::parse(body)?,
        other => panic!("unknown decoder {other}"),
    };
    check_series(decoder, &series);
    Ok(series.len())
}

/// What storage relies on: a non-empty metric name, sorted unique non-empty label
/// names, no empty values.
pub fn check_series(decoder: &str, series: &[TimeSeries]) {
    for s in series {
        assert!(
            s.labels.metric_name().is_some_and(|n| !n.is_empty()),
            "{decoder}: no metric name in {}",
            s.labels
        );
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "{decoder}: names not sorted/unique: {names:?}"
        );
        assert!(
            s.labels
                .iter()
                .all(|l| !l.name.is_empty() && !l.value.is_empty()),
            "{decoder}: empty name or value"
        );
    }
}

pub const DECODERS: [&str; 7] = [
    "remote_write_v1",
    "remote_write_v2",
    "text",
    "influx",
    "opentsdb_http",
    "opentsdb_telnet",
    "jsonline",
];
