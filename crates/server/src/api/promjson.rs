//! Query results in the exact JSON shapes and number formats of Prometheus' HTTP API.
//!
//! Timestamps are Unix seconds with up to three decimals (`1700000000.5` is written as
//! `1700000000.500`, as Prometheus does) and sample values are strings in Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)` form, with `NaN`, `+Inf` and `-Inf` spelled out.

use std::fmt::Write as _;

use tidemark_model::{FloatHistogram, Labels};

use super::go_float::write_value;
use tidemark_query::{FPoint, HPoint, InstantSample, RangeSeries, Value};

/// Writes a millisecond timestamp as Prometheus does (integer part, then `.ddd` if non-zero).
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let abs = t_ms.unsigned_abs();
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(abs / 1000));
    let frac = (abs % 1000) as u32;
    if frac != 0 {
        out.push('.');
        for digit in [frac / 100, frac / 10 % 10, frac % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
    }
}

/// Formats a sample value like Go's `FormatFloat(v, 'f', -1, 64)`.
pub fn format_value(v: f64) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// A JSON string literal, escaped exactly as serde_json does.
fn write_str(out: &mut String, s: &str) {
    let needs_escape = s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    if needs_escape {
        // serde_json's string escaping cannot fail for &str.
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// `{"name":"value",...}` in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_quoted_value(out, v);
    out.push(']');
}

fn write_hpoint(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// The Prometheus histogram object: `{"count":"..","sum":"..","buckets":[[rule,"lo","hi","n"],..]}`.
fn write_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str("{\"count\":");
    write_quoted_value(out, h.count);
    out.push_str(",\"sum\":");
    write_quoted_value(out, h.sum);
    let buckets = histogram_buckets(h);
    if !buckets.is_empty() {
        out.push_str(",\"buckets\":[");
        for (i, b) in buckets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push(char::from(b'0' + b.boundaries));
            for v in [b.lower, b.upper, b.count] {
                out.push(',');
                write_quoted_value(out, v);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push('}');
}

/// `"<value>"`: Prometheus sends sample values as JSON strings.
fn write_quoted_value(out: &mut String, v: f64) {
    out.push('"');
    write_value(out, v);
    out.push('"');
}

struct Bucket {
    /// 0: (lower, upper]; 1: [lower, upper); 3: [lower, upper].
    boundaries: u8,
    lower: f64,
    upper: f64,
    count: f64,
}

const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Upper bound of exponential bucket `idx` for `schema`: 2^(idx * 2^-schema).
fn exp_upper_bound(idx: i32, schema: i32) -> f64 {
    (2f64).powf(idx as f64 * (2f64).powi(-schema))
}

fn bucket_indices(spans: &[tidemark_model::BucketSpan]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut idx = 0i32;
    for span in spans {
        idx = idx.saturating_add(span.offset);
        for _ in 0..span.length {
            out.push(idx);
            idx = idx.saturating_add(1);
        }
    }
    out
}

/// Non-empty buckets in ascending order: negative, zero, positive (as Prometheus lists them).
fn histogram_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    let positive = bucket_indices(&h.positive_spans);
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        for (idx, count) in positive.iter().zip(&h.positive_buckets) {
            let i = *idx as usize;
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let upper = h.custom_values.get(i).copied().unwrap_or(f64::INFINITY);
            if *count != 0.0 {
                out.push(Bucket {
                    boundaries: 0,
                    lower,
                    upper,
                    count: *count,
                });
            }
        }
        return out;
    }
    let negative = bucket_indices(&h.negative_spans);
    for (idx, count) in negative.iter().zip(&h.negative_buckets).rev() {
        if *count != 0.0 {
            let lower = -exp_upper_bound(*idx, h.schema);
            let upper = -exp_upper_bound(*idx - 1, h.schema);
            out.push(Bucket {
                boundaries: 1,
                lower,
                upper,
                count: *count,
            });
        }
    }
    if h.zero_count != 0.0 {
        out.push(Bucket {
            boundaries: 3,
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            count: h.zero_count,
        });
    }
    for (idx, count) in positive.iter().zip(&h.positive_buckets) {
        if *count != 0.0 {
            let lower = exp_upper_bound(*idx - 1, h.schema);
            let upper = exp_upper_bound(*idx, h.schema);
            out.push(Bucket {
                boundaries: 0,
                lower,
                upper,
                count: *count,
            });
        }
    }
    out
}

fn write_instant_sample(out: &mut String, s: &InstantSample) {
    out.push_str("{\"metric\":");
    write_labels(out, &s.labels);
    match &s.h {
        Some(h) => {
            out.push_str(",\"histogram\":");
            write_hpoint(out, s.t, h);
        }
        None => {
            out.push_str(",\"value\":");
            write_point(out, s.t, s.f);
        }
    }
    out.push('}');
}

fn write_range_series(out: &mut String, s: &RangeSeries) {
    out.push_str("{\"metric\":");
    write_labels(out, &s.labels);
    if !s.floats.is_empty() {
        out.push_str(",\"values\":[");
        for (i, FPoint { t, f }) in s.floats.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_point(out, *t, *f);
        }
        out.push(']');
    }
    if !s.histograms.is_empty() {
        out.push_str(",\"histograms\":[");
        for (i, HPoint { t, h }) in s.histograms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_hpoint(out, *t, h);
        }
        out.push(']');
    }
    out.push('}');
}

/// `{"resultType":"...","result":...}`
pub fn write_query_data(out: &mut String, value: &Value) {
    match value {
        Value::Scalar { t, v } => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            write_point(out, *t, *v);
        }
        Value::String { t, v } => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_instant_sample(out, s);
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_range_series(out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A guess at the rendered size, so the body is not re-allocated as it grows.
fn estimated_len(value: &Value) -> usize {
    const PER_POINT: usize = 24;
    const PER_SERIES: usize = 160;
    match value {
        Value::Matrix(series) => series
            .iter()
            .map(|s| PER_SERIES + PER_POINT * (s.floats.len() + 8 * s.histograms.len()))
            .sum::<usize>()
            .saturating_add(256),
        Value::Vector(samples) => PER_SERIES * samples.len() + 256,
        _ => 256,
    }
}

/// The whole success envelope of `/api/v1/query` and `/api/v1/query_range`.
pub fn query_response(value: &Value, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(estimated_len(value));
    out.push_str("{\"status\":\"success\",\"data\":");
    write_query_data(&mut out, value);
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if !list.is_empty() {
            let _ = write!(out, ",\"{key}\":");
            out.push_str(&serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string()));
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_prometheus() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_700_000_000_500);
        assert_eq!(s, "1700000000.500");
        s.clear();
        write_timestamp(&mut s, 1_700_000_000_000);
        assert_eq!(s, "1700000000");
        s.clear();
        write_timestamp(&mut s, -1_500);
        assert_eq!(s, "-1.500");
        s.clear();
        write_timestamp(&mut s, 7);
        assert_eq!(s, "0.007");
    }

    #[test]
    fn values_match_go_formatting() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-2.5), "-2.5");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for raw in [
            "plain",
            "a\"b",
            "back\\slash",
            "tab\tnl\n",
            "\u{1}ctl",
            "ünïcode ☃",
            "</script>",
            "",
        ] {
            let mut s = String::new();
            write_str(&mut s, raw);
            assert_eq!(s, serde_json::to_string(raw).unwrap(), "{raw:?}");
        }
    }

    #[test]
    fn vector_shape() {
        let v = Value::Vector(vec![InstantSample {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]),
            t: 1000,
            f: 1.0,
            h: None,
        }]);
        let body = query_response(&v, &["w".to_string()], &[]);
        assert_eq!(
            body,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1,"1"]}]},"warnings":["w"]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["data"]["result"][0]["metric"]["job"], "a\"b");
    }

    #[test]
    fn matrix_and_scalar_shapes() {
        let m = Value::Matrix(vec![RangeSeries {
            labels: Labels::from_pairs([("a", "1")]),
            floats: vec![
                FPoint { t: 0, f: 1.5 },
                FPoint {
                    t: 15_000,
                    f: f64::NAN,
                },
            ],
            histograms: vec![],
        }]);
        assert_eq!(
            query_response(&m, &[], &[]),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[0,"1.5"],[15,"NaN"]]}]}}"#
        );
        let s = Value::Scalar { t: 2500, v: 3.0 };
        assert_eq!(
            query_response(&s, &[], &[]),
            r#"{"status":"success","data":{"resultType":"scalar","result":[2.500,"3"]}}"#
        );
    }

    #[test]
    fn exponential_histogram_buckets() {
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 4.0,
            sum: 5.0,
            positive_spans: vec![tidemark_model::BucketSpan {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![2.0, 1.0],
            ..Default::default()
        };
        let mut out = String::new();
        write_histogram(&mut out, &h);
        assert_eq!(
            out,
            r#"{"count":"4","sum":"5","buckets":[[3,"-0.001","0.001","1"],[0,"1","2","2"],[0,"2","4","1"]]}"#
        );
    }
}
