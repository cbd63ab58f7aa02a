//! OpenTSDB ingestion: the HTTP `/api/put` JSON body and telnet `put` lines.
//!
//! Metric names and tag keys are kept as sent (dots included), as VictoriaMetrics does.
//! Timestamps follow OpenTSDB's rule: a value that fits in 32 bits is seconds, a larger
//! one is milliseconds; a telnet timestamp with a decimal point is fractional seconds.

use serde::Deserialize;
use serde_json::Value;
use tidemark_model::{Label, Sample, TimeSeries, METRIC_NAME};

use crate::error::truncate_for_message;
use crate::labels_check::validated_labels;
use crate::text::parse_value;
use crate::DecodeError;

#[derive(Deserialize)]
struct PutPoint {
    metric: String,
    #[serde(default)]
    timestamp: Option<Value>,
    value: Value,
    #[serde(default)]
    tags: serde_json::Map<String, Value>,
}

/// Parses an `/api/put` body: one data point object or an array of them.
/// Points without a timestamp get `default_timestamp_ms` (OpenTSDB itself requires one).
pub fn parse_http(body: &[u8], default_timestamp_ms: i64) -> Result<Vec<TimeSeries>, DecodeError> {
    let json_err = |e: serde_json::Error| DecodeError::parse(e.line(), e.to_string());
    let doc: Value = serde_json::from_slice(body).map_err(json_err)?;
    let points = match doc {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(DecodeError::parse(
                1,
                "expected a JSON object or array of objects",
            ))
        }
    };
    let mut out = Vec::with_capacity(points.len());
    for (i, point) in points.into_iter().enumerate() {
        let p: PutPoint =
            serde_json::from_value(point).map_err(|e| point_error(i, e.to_string()))?;
        let timestamp = match p.timestamp {
            None | Some(Value::Null) => default_timestamp_ms,
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(timestamp_to_millis)
                .ok_or_else(|| point_error(i, format!("invalid timestamp {n}")))?,
            Some(Value::String(s)) => parse_telnet_timestamp(&s).map_err(|m| point_error(i, m))?,
            Some(other) => return Err(point_error(i, format!("invalid timestamp {other}"))),
        };
        let value = match &p.value {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| point_error(i, format!("invalid value {n}")))?,
            Value::String(s) => parse_value(s).map_err(|m| point_error(i, m))?,
            other => return Err(point_error(i, format!("invalid value {other}"))),
        };
        let mut pairs = Vec::with_capacity(p.tags.len() + 1);
        pairs.push(Label::new(METRIC_NAME, p.metric));
        for (k, v) in p.tags {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(point_error(
                        i,
                        format!("tag {k:?} has non-string value {other}"),
                    ))
                }
            };
            pairs.push(Label::new(k, v));
        }
        out.push(TimeSeries::new(
            validated_labels(pairs)?,
            vec![Sample::new(timestamp, value)],
        ));
    }
    Ok(out)
}

fn point_error(index: usize, message: String) -> DecodeError {
    DecodeError::parse(
        0,
        format!("data point {index}: {}", truncate_for_message(&message)),
    )
}

/// Parses telnet-style text, one `put <metric> <timestamp> <value> [<tagk=tagv> ...]`
/// per line. Blank lines are skipped; any other command is an error.
pub fn parse_telnet(body: &str) -> Result<Vec<TimeSeries>, DecodeError> {
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_telnet_line(line).map_err(|e| match e {
            DecodeError::Parse { message, .. } => DecodeError::parse(i + 1, message),
            other => other,
        })?);
    }
    Ok(out)
}

/// Parses one `put` line. Listeners call this per line so that one bad line is
/// answered on its own without dropping the good lines around it.
pub fn parse_telnet_line(line: &str) -> Result<TimeSeries, DecodeError> {
    let err = |m: String| DecodeError::parse(1, m);
    let mut words = line.split_ascii_whitespace();
    match words.next() {
        Some("put") => {}
        Some(cmd) => {
            return Err(err(format!(
                "unknown command {:?}, want put",
                truncate_for_message(cmd)
            )))
        }
        None => return Err(err("empty line".into())),
    }
    let metric = words
        .next()
        .ok_or_else(|| err("missing metric name".into()))?;
    let timestamp = parse_telnet_timestamp(
        words
            .next()
            .ok_or_else(|| err("missing timestamp".into()))?,
    )
    .map_err(err)?;
    let value =
        parse_value(words.next().ok_or_else(|| err("missing value".into()))?).map_err(err)?;
    let mut pairs = vec![Label::new(METRIC_NAME, metric)];
    for tag in words {
        let (k, v) = tag.split_once('=').ok_or_else(|| {
            err(format!(
                "tag {:?} is not key=value",
                truncate_for_message(tag)
            ))
        })?;
        pairs.push(Label::new(k, v));
    }
    Ok(TimeSeries::new(
        validated_labels(pairs)?,
        vec![Sample::new(timestamp, value)],
    ))
}

/// Integer seconds or milliseconds, or decimal seconds (`1700000000.123`).
fn parse_telnet_timestamp(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid timestamp {:?}", truncate_for_message(s));
    if s.contains('.') {
        let secs: f64 = s.parse().map_err(|_| bad())?;
        let ms = (secs * 1000.0).round();
        if !(ms.is_finite() && (0.0..i64::MAX as f64).contains(&ms)) {
            return Err(bad());
        }
        return Ok(ms as i64);
    }
    s.parse::<i64>()
        .ok()
        .and_then(timestamp_to_millis)
        .ok_or_else(bad)
}

/// OpenTSDB's rule: values that fit in 32 bits are seconds, larger ones milliseconds.
fn timestamp_to_millis(ts: i64) -> Option<i64> {
    if ts < 0 {
        None
    } else if ts <= i64::from(u32::MAX) {
        Some(ts * 1000)
    } else {
        Some(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_single_and_array_bodies() {
        let one = parse_http(
            br#"{"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01","dc":"lga"}}"#,
            0,
        )
        .unwrap();
        assert_eq!(
            one[0].labels.to_string(),
            r#"sys.cpu.nice{dc="lga", host="web01"}"#
        );
        assert_eq!(one[0].samples, vec![Sample::new(1346846400000, 18.0)]);

        let many = parse_http(
            br#"[{"metric":"a","timestamp":1346846400123,"value":"1.5","tags":{"n":7}},
                 {"metric":"b","value":2}]"#,
            77,
        )
        .unwrap();
        assert_eq!(many[0].samples, vec![Sample::new(1346846400123, 1.5)]);
        assert_eq!(many[0].labels.get("n"), Some("7"));
        assert_eq!(many[1].samples, vec![Sample::new(77, 2.0)]);
    }

    #[test]
    fn http_errors() {
        for body in [
            &b"[1]"[..],
            b"{\"metric\":\"a\",\"value\":true}",
            b"{\"metric\":\"a\",\"value\":1,\"timestamp\":-5}",
            b"{\"metric\":\"a\",\"value\":1,\"tags\":{\"k\":[1]}}",
            b"{\"value\":1}",
            b"\"x\"",
            b"{\"metric\":\"a\",",
        ] {
            assert_eq!(
                parse_http(body, 0).unwrap_err().reason(),
                "parse",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_http(br#"{"metric":"","value":1}"#, 0)
                .unwrap_err()
                .reason(),
            "missing_metric_name"
        );
        assert_eq!(
            parse_http(br#"{"metric":"a","value":1,"tags":{"":"v"}}"#, 0)
                .unwrap_err()
                .reason(),
            "invalid_label"
        );
    }

    #[test]
    fn telnet_lines() {
        let s = parse_telnet(
            "put sys.load 1346846400 0.5 host=web01 dc=lga\n\nput x 1346846400123 -Inf\n",
        )
        .unwrap();
        assert_eq!(
            s[0].labels.to_string(),
            r#"sys.load{dc="lga", host="web01"}"#
        );
        assert_eq!(s[0].samples, vec![Sample::new(1346846400000, 0.5)]);
        assert_eq!(
            s[1].samples,
            vec![Sample::new(1346846400123, f64::NEG_INFINITY)]
        );
        assert_eq!(
            parse_telnet_line("put x 1346846400.25 1").unwrap().samples[0].timestamp,
            1346846400250
        );

        for (body, line) in [
            ("put x 1 1\nget x\n", 2),
            ("put x\n", 1),
            ("put x 1 y\n", 1),
            ("put x z 1\n", 1),
            ("put x 1 1 tag\n", 1),
        ] {
            match parse_telnet(body) {
                Err(DecodeError::Parse { line: l, .. }) => assert_eq!(l, line, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
        assert_eq!(
            parse_telnet("put x 1 1 =v").unwrap_err().reason(),
            "invalid_label"
        );
        assert_eq!(
            parse_telnet("put x 1 1 a=1 a=2").unwrap_err().reason(),
            "invalid_label"
        );
    }
}
