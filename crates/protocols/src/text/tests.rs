use super::*;
use tidemark_model::{is_stale_nan, Labels, Sample, TimeSeries};

fn one(body: &str) -> TimeSeries {
    let r = parse(body, 1234).unwrap();
    assert_eq!(r.series.len(), 1, "{body}");
    r.series.into_iter().next().unwrap()
}

#[test]
fn classic_lines_with_labels_timestamps_and_specials() {
    let s = one("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n");
    assert_eq!(
        s.labels.to_string(),
        r#"http_requests_total{code="200", method="post"}"#
    );
    assert_eq!(s.samples, vec![Sample::new(1395066363000, 1027.0)]);

    assert_eq!(
        one("up 1").samples,
        vec![Sample::new(1234, 1.0)],
        "default timestamp"
    );
    assert_eq!(one("x{} -Inf").samples[0].value, f64::NEG_INFINITY);
    assert_eq!(one("x +Inf").samples[0].value, f64::INFINITY);
    assert!(one("x NaN").samples[0].value.is_nan());
    assert!(!is_stale_nan(one("x NaN").samples[0].value));
    assert_eq!(one("x 1.5e-3 -10").samples, vec![Sample::new(-10, 0.0015)]);
    assert_eq!(
        one("x{ a = \"1\" , b=\"2\", } 3\t 7 ").labels.len(),
        3,
        "blanks and trailing comma"
    );
}

#[test]
fn escapes_in_label_values() {
    let s = one(r#"msg{path="C:\\dir",q="say \"hi\"",nl="a\nb"} 1"#);
    assert_eq!(s.labels.get("path"), Some("C:\\dir"));
    assert_eq!(s.labels.get("q"), Some("say \"hi\""));
    assert_eq!(s.labels.get("nl"), Some("a\nb"));
}

#[test]
fn utf8_quoted_names() {
    let s = one(r#"{"my.metric", "label.name"="v", job="j"} 2"#);
    assert_eq!(s.labels.metric_name(), Some("my.metric"));
    assert_eq!(s.labels.get("label.name"), Some("v"));
    assert!(
        parse(r#"{"a", "b"} 1"#, 0).is_err(),
        "only the first bare string names the metric"
    );
}

#[test]
fn metadata_from_help_type_unit() {
    let body = "# HELP go_gc_seconds A summary of\\nGC \\\\ pauses.\n# TYPE go_gc_seconds summary\n\
                # some comment\ngo_gc_seconds{quantile=\"0.5\"} 1e-05\ngo_gc_seconds_sum 0.1\ngo_gc_seconds_count 3\n";
    let r = parse(body, 0).unwrap();
    assert_eq!(r.series.len(), 3);
    assert_eq!(r.metadata.len(), 1);
    let m = &r.metadata[0];
    assert_eq!(
        (m.metric_family.as_str(), m.metric_type),
        ("go_gc_seconds", MetricType::Summary)
    );
    assert_eq!(m.help, "A summary of\nGC \\ pauses.");
    assert!(parse("# TYPE x bogus\n", 0).is_err());
    assert_eq!(
        parse("# TYPE x untyped\n", 0).unwrap().metadata[0].metric_type,
        MetricType::Unknown
    );
}

#[test]
fn openmetrics_seconds_timestamps_exemplars_unit_and_eof() {
    let body = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo Foo.\n\
                foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879607.1\n\
                foo_created 1520430000.123\n# EOF\n";
    assert_eq!(Flavor::detect(body), Flavor::OpenMetrics);
    let r = parse(body, 5).unwrap();
    assert_eq!(r.series[0].samples, vec![Sample::new(1520879607789, 17.0)]);
    assert_eq!(r.series[1].samples, vec![Sample::new(5, 1520430000.123)]);
    assert_eq!(r.metadata[0].unit, "seconds");
    assert_eq!(r.metadata[0].metric_type, MetricType::Counter);
    assert!(
        parse_flavor("a 1\n# EOF\nb 2\n", Flavor::OpenMetrics, 0).is_err(),
        "content after EOF"
    );
    let err = parse_flavor("a 1\nb 2\n", Flavor::OpenMetrics, 0).unwrap_err();
    assert!(err.to_string().contains("# EOF"), "missing EOF: {err}");
    assert!(parse_flavor("a 1\nb 2\n", Flavor::Prometheus, 0).is_ok());
    assert!(
        parse("a 1 # {x=\"y\"} 1\n", 0).is_err(),
        "exemplars are OpenMetrics-only"
    );
}

#[test]
fn malformed_lines_are_parse_errors_with_line_numbers() {
    for (body, line) in [
        ("ok 1\nbad{ 1\n", 2),
        ("x{a=\"1\"}1\n", 1),
        ("x\n", 1),
        ("x one\n", 1),
        ("x 1 1.5\n", 1),
        ("x{a=1} 1\n", 1),
        ("x{a=\"1\" b=\"2\"} 1\n", 1),
        ("1x 1\n", 1),
        ("x{a:b=\"1\"} 1\n", 1),
        ("x 1 2 3\n", 1),
        ("# HELP\n", 1),
    ] {
        match parse(body, 0) {
            Err(DecodeError::Parse { line: l, .. }) => assert_eq!(l, line, "{body:?}"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    assert_eq!(
        parse("x{a=\"1\",a=\"2\"} 1", 0).unwrap_err().reason(),
        "invalid_label"
    );
    assert_eq!(
        parse("{a=\"1\"} 1", 0).unwrap_err().reason(),
        "missing_metric_name"
    );
    assert_eq!(
        parse_bytes(b"x{a=\"\xff\"} 1", 0).unwrap_err().reason(),
        "invalid_utf8"
    );
}

#[test]
fn crlf_and_blank_lines_are_tolerated() {
    let r = parse("a 1\r\n\r\n  \nb 2\r\n", 0).unwrap();
    assert_eq!(r.series.len(), 2);
}

#[test]
fn encode_then_parse_round_trips() {
    let series = vec![
        TimeSeries::new(
            Labels::from_pairs([
                ("__name__", "rpc_seconds_bucket"),
                ("le", "+Inf"),
                ("path", "a\"b\\c\nd"),
            ]),
            vec![Sample::new(1000, 3.0), Sample::new(2000, 0.1)],
        ),
        TimeSeries::new(
            Labels::from_pairs([("__name__", "my.dotted"), ("odd-label", "x")]),
            vec![Sample::new(-1, 1e300)],
        ),
        TimeSeries::new(
            Labels::from_pairs([("__name__", "inf")]),
            vec![Sample::new(5, f64::NEG_INFINITY)],
        ),
    ];
    let metadata = vec![MetricMetadata {
        metric_family: "rpc_seconds".into(),
        metric_type: MetricType::Histogram,
        help: "RPC latency \\ with\nnewline".into(),
        unit: String::new(),
    }];
    let text = encode(&series, &metadata);
    let back = parse(&text, 0).unwrap();
    let expected: Vec<TimeSeries> = series
        .iter()
        .flat_map(|ts| {
            ts.samples
                .iter()
                .map(|s| TimeSeries::new(ts.labels.clone(), vec![*s]))
        })
        .collect();
    assert_eq!(back.series, expected, "{text}");
    assert_eq!(back.metadata, metadata, "{text}");
}

#[test]
fn error_messages_quote_at_most_a_short_prefix_of_the_input() {
    let long = "a".repeat(10_000);
    for body in [
        format!("x{{{long}:b=\"1\"}} 1"),
        format!("x{{{long} \"1\"}} 1"),
        format!("x {long}"),
    ] {
        let message = parse(&body, 0).unwrap_err().to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
    }
}
