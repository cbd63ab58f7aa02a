//! VictoriaMetrics JSON-lines import/export (`/api/v1/import`, `/api/v1/export`):
//! one object per line, `{"metric":{"__name__":"up","job":"a"},"values":[1,0],"timestamps":[1000,2000]}`.
//!
//! Special values follow what VictoriaMetrics 1.79 writes and reads (checked against the
//! real binary): `+Inf` and `-Inf` are written as bare tokens, which is not strict JSON;
//! a Prometheus stale marker is written as `null`; ordinary NaNs are written as a bare
//! `NaN`. (VictoriaMetrics itself drops ordinary NaNs on ingestion, so it never writes
//! them, and 1.79 rejects `null` on import.) The parser accepts all of these, bare or
//! quoted, so both Tidemark's and VictoriaMetrics' exports import losslessly.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use tidemark_model::{is_stale_nan, Label, Sample, TimeSeries, STALE_NAN};

use crate::labels_check::validated_labels;
use crate::DecodeError;

/// Content type of the export stream.
pub const CONTENT_TYPE: &str = "application/stream+json";

#[derive(Deserialize)]
struct Line {
    metric: BTreeMap<String, String>,
    values: Vec<JsonValue>,
    timestamps: Vec<i64>,
}

/// A sample value: a JSON number, `null` (stale marker) or an Inf/NaN spelling.
struct JsonValue(f64);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(JsonValueVisitor)
    }
}

struct JsonValueVisitor;

impl Visitor<'_> for JsonValueVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, null, Inf, -Inf or NaN")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonValue, E> {
        Ok(JsonValue(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue(v as f64))
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonValue, E> {
        Ok(JsonValue(STALE_NAN))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<JsonValue, E> {
        special_value(s)
            .map(JsonValue)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
    }
}

fn special_value(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

/// Parses a JSON-lines body. Blank lines are skipped; `values` and `timestamps`
/// must have equal lengths; a series with no values is left out.
pub fn parse(body: &[u8]) -> Result<Vec<TimeSeries>, DecodeError> {
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = parse_line(line).map_err(|m| DecodeError::parse(line_no, m))?;
        if parsed.values.len() != parsed.timestamps.len() {
            return Err(DecodeError::parse(
                line_no,
                format!(
                    "{} values but {} timestamps",
                    parsed.values.len(),
                    parsed.timestamps.len()
                ),
            ));
        }
        if parsed.values.is_empty() {
            continue;
        }
        let labels = validated_labels(
            parsed
                .metric
                .into_iter()
                .map(|(n, v)| Label { name: n, value: v })
                .collect(),
        )?;
        let samples = parsed
            .timestamps
            .iter()
            .zip(&parsed.values)
            .map(|(&t, v)| Sample::new(t, v.0))
            .collect();
        out.push(TimeSeries::new(labels, samples));
    }
    Ok(out)
}

fn parse_line(line: &[u8]) -> Result<Line, String> {
    match serde_json::from_slice::<Line>(line) {
        Ok(l) => Ok(l),
        Err(first_error) => {
            // Retry with bare Inf/NaN tokens quoted, the non-JSON form VictoriaMetrics writes.
            let quoted = std::str::from_utf8(line).ok().and_then(quote_bare_tokens);
            match quoted {
                Some(q) => serde_json::from_str::<Line>(&q).map_err(|e| e.to_string()),
                None => Err(first_error.to_string()),
            }
        }
    }
}

/// Wraps bare alphabetic tokens outside strings (`+Inf`, `NaN`, ...) in quotes;
/// `None` when there were none, so the caller reports the original error.
fn quote_bare_tokens(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let mut in_string = false;
    let mut changed = false;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let signed =
            (b == b'+' || b == b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic);
        if b.is_ascii_alphabetic() || signed {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let token = &line[start..i];
            if special_value(token).is_some() {
                out.push_str(&line[copied..start]);
                out.push('"');
                out.push_str(token);
                out.push('"');
                copied = i;
                changed = true;
            }
            continue;
        }
        i += 1;
    }
    if !changed {
        return None;
    }
    out.push_str(&line[copied..]);
    Some(out)
}

/// Appends one JSON line for `series` (with a trailing newline), in the form
/// VictoriaMetrics' `/api/v1/export` writes.
pub fn write_series(series: &TimeSeries, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"metric\":{");
    for (i, l) in series.labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, &l.name);
        out.push(b':');
        write_json_string(out, &l.value);
    }
    out.extend_from_slice(b"},\"values\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format_json_value(s.value).as_bytes());
    }
    out.extend_from_slice(b"],\"timestamps\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(s.timestamp.to_string().as_bytes());
    }
    out.extend_from_slice(b"]}\n");
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn format_json_value(v: f64) -> String {
    if is_stale_nan(v) {
        "null".into()
    } else {
        crate::number::format_value(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::Labels;

    #[test]
    fn parses_vm_export_lines_including_specials() {
        let body = br#"{"metric":{"__name__":"up","job":"a"},"values":[1,0.5,+Inf,-Inf,null,NaN],"timestamps":[1,2,3,4,5,6]}

{"metric":{"__name__":"x"},"values":["Inf", 2],"timestamps":[7,8]}
"#;
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels.to_string(), r#"up{job="a"}"#);
        let v: Vec<f64> = s[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(&v[..4], &[1.0, 0.5, f64::INFINITY, f64::NEG_INFINITY]);
        assert!(is_stale_nan(v[4]));
        assert!(v[5].is_nan() && !is_stale_nan(v[5]));
        assert_eq!(
            s[1].samples,
            vec![Sample::new(7, f64::INFINITY), Sample::new(8, 2.0)]
        );
    }

    #[test]
    fn write_then_parse_round_trips_bit_exact() {
        let ts = TimeSeries::new(
            Labels::from_pairs([("__name__", "m"), ("quote", "a\"b\\c\u{1}é")]),
            vec![
                Sample::new(-1, 0.1),
                Sample::new(2, f64::INFINITY),
                Sample::new(3, STALE_NAN),
                Sample::new(4, f64::NAN),
                Sample::new(5, 1e300),
                Sample::new(6, -2.0),
            ],
        );
        let mut out = Vec::new();
        write_series(&ts, &mut out);
        assert!(out.ends_with(b"]}\n"));
        let back = parse(&out).unwrap();
        assert_eq!(back, vec![ts], "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn errors() {
        for (body, reason) in [
            (
                &br#"{"metric":{"__name__":"m"},"values":[1,2],"timestamps":[1]}"#[..],
                "parse",
            ),
            (
                br#"{"metric":{"__name__":"m"},"values":["1"],"timestamps":[1]}"#,
                "parse",
            ),
            (
                br#"{"metric":{"__name__":"m"},"values":[1],"timestamps":[1.5]}"#,
                "parse",
            ),
            (
                br#"{"metric":{"__name__":"m"},"values":[Infinite],"timestamps":[1]}"#,
                "parse",
            ),
            (
                br#"{"metric":{"job":"m"},"values":[1],"timestamps":[1]}"#,
                "missing_metric_name",
            ),
            (
                br#"{"metric":{"__name__":"m","":"x"},"values":[1],"timestamps":[1]}"#,
                "invalid_label",
            ),
            (
                b"{\"metric\":{\"__name__\":\"\xff\"},\"values\":[1],\"timestamps\":[1]}",
                "parse",
            ),
            (b"not json", "parse"),
        ] {
            assert_eq!(
                parse(body).unwrap_err().reason(),
                reason,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        match parse(b"\n{}\n") {
            Err(DecodeError::Parse { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
