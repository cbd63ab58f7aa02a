//! Real exposition output (node_exporter 1.5.0, a subset of families) through every codec.

use tidemark_model::{MetricType, TimeSeries};
use tidemark_protocols::{jsonline, remote_write, text};

const FIXTURE: &str = include_str!("data/node_exporter_1.5.txt");
const SCRAPE_TS: i64 = 1_700_000_000_000;

fn sample_lines() -> usize {
    FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

#[test]
fn parses_every_sample_and_family() {
    let r = text::parse(FIXTURE, SCRAPE_TS).unwrap();
    assert_eq!(r.series.len(), sample_lines());
    assert_eq!(
        r.metadata.len(),
        FIXTURE.lines().filter(|l| l.starts_with("# TYPE ")).count()
    );
    assert!(
        r.metadata.iter().all(|m| !m.help.is_empty()),
        "every family has HELP"
    );
    let type_of = |family: &str| {
        r.metadata
            .iter()
            .find(|m| m.metric_family == family)
            .map(|m| m.metric_type)
    };
    assert_eq!(type_of("go_gc_duration_seconds"), Some(MetricType::Summary));
    assert_eq!(type_of("node_cpu_seconds_total"), Some(MetricType::Counter));
    assert_eq!(type_of("go_goroutines"), Some(MetricType::Gauge));
    assert!(r
        .series
        .iter()
        .all(|s| s.samples.len() == 1 && s.samples[0].timestamp == SCRAPE_TS));
    let quantiles = r
        .series
        .iter()
        .filter(|s| s.labels.metric_name() == Some("go_gc_duration_seconds"))
        .count();
    assert_eq!(quantiles, 5);
    let cpu = r
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("node_cpu_seconds_total"))
        .unwrap();
    assert!(cpu.labels.get("cpu").is_some() && cpu.labels.get("mode").is_some());
}

#[test]
fn survives_text_remote_write_and_jsonline_round_trips() {
    let r = text::parse(FIXTURE, SCRAPE_TS).unwrap();

    let again = text::parse(&text::encode(&r.series, &r.metadata), 0).unwrap();
    assert_eq!(again.series, r.series);
    assert_eq!(again.metadata, r.metadata);

    let v1 = remote_write::decode_v1(&remote_write::encode_v1_request(&r), 16 << 20).unwrap();
    assert_eq!(v1, r);

    let v2 = remote_write::decode_v2(&remote_write::encode_v2(&r.series, &r.metadata), 16 << 20)
        .unwrap();
    assert_eq!(v2.request.series, r.series);

    let mut lines = Vec::new();
    for s in &r.series {
        jsonline::write_series(s, &mut lines);
    }
    let back: Vec<TimeSeries> = jsonline::parse(&lines).unwrap();
    assert_eq!(back, r.series);
}
