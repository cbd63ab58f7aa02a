//! InfluxDB line protocol, mapped to series the way VictoriaMetrics does it.
//!
//! `measurement,tag=v field1=1,field2=2i 1700000000000000000` becomes the series
//! `measurement_field1{tag="v"}` and `measurement_field2{tag="v"}`. Integer (`i`),
//! unsigned (`u`) and float fields become float samples, booleans 1 or 0, and string
//! fields are skipped (they have no numeric value). Lexing is done by InfluxData's
//! `influxdb-line-protocol` crate, a port of the Go reference parser, so escapes and
//! quoting behave exactly as in InfluxDB; an empty measurement is therefore a parse
//! error, as it is for InfluxDB itself.

use influxdb_line_protocol::{split_lines, FieldValue, ParsedLine};
use tidemark_model::{Label, Sample, TimeSeries, METRIC_NAME};

use crate::labels_check::validated_labels;
use crate::DecodeError;

/// Unit of the timestamps in a body (the `precision` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// `ns`, InfluxDB's default.
    #[default]
    Nanoseconds,
    /// `u` / `us` / `µs`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `h`.
    Hours,
}

impl Precision {
    /// Parses the `precision` / `u` query values InfluxDB and VictoriaMetrics accept:
    /// `ns`, `n`, `u`, `us`, `µ`, `ms`, `s`, `m`, `h`.
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "u" | "us" | "µ" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// Converts a timestamp in this unit to milliseconds; `None` on overflow.
    fn to_millis(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(ts / 1_000_000),
            Precision::Microseconds => Some(ts / 1_000),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds => ts.checked_mul(1_000),
            Precision::Minutes => ts.checked_mul(60_000),
            Precision::Hours => ts.checked_mul(3_600_000),
        }
    }
}

/// Separator between measurement and field name in the metric name.
const MEASUREMENT_FIELD_SEPARATOR: &str = "_";

/// Parses a line-protocol body. Lines without a timestamp get `default_timestamp_ms`.
/// Blank lines and `#` comments are skipped; any malformed line fails the whole body.
pub fn parse(
    body: &[u8],
    precision: Precision,
    default_timestamp_ms: i64,
) -> Result<Vec<TimeSeries>, DecodeError> {
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut out = Vec::new();
    for (i, line) in split_lines(text).enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = influxdb_line_protocol::parse_lines(trimmed)
            .next()
            .ok_or_else(|| DecodeError::parse(line_no, "empty line"))?
            .map_err(|e| DecodeError::parse(line_no, e.to_string()))?;
        let timestamp = match parsed.timestamp {
            Some(ts) => precision.to_millis(ts).ok_or_else(|| {
                DecodeError::parse(
                    line_no,
                    format!("timestamp {ts} overflows at {precision:?}"),
                )
            })?,
            None => default_timestamp_ms,
        };
        append_line_series(&parsed, timestamp, &mut out)?;
    }
    Ok(out)
}

fn append_line_series(
    line: &ParsedLine<'_>,
    timestamp: i64,
    out: &mut Vec<TimeSeries>,
) -> Result<(), DecodeError> {
    let measurement = line.series.measurement.as_str();
    let tags: Vec<Label> = line
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| Label::new(k.as_str(), v.as_str()))
        .collect();
    for (field, value) in &line.field_set {
        let value = match value {
            FieldValue::F64(v) => *v,
            FieldValue::I64(v) => *v as f64,
            FieldValue::U64(v) => *v as f64,
            FieldValue::Boolean(b) => f64::from(u8::from(*b)),
            FieldValue::String(_) => continue,
        };
        // The lexer rejects an empty measurement, so the name always has both parts.
        let name = format!(
            "{measurement}{MEASUREMENT_FIELD_SEPARATOR}{}",
            field.as_str()
        );
        let mut pairs = Vec::with_capacity(tags.len() + 1);
        pairs.push(Label::new(METRIC_NAME, name));
        pairs.extend(tags.iter().cloned());
        out.push(TimeSeries::new(
            validated_labels(pairs)?,
            vec![Sample::new(timestamp, value)],
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ms(body: &str) -> Result<Vec<TimeSeries>, DecodeError> {
        parse(body.as_bytes(), Precision::Milliseconds, 99)
    }

    #[test]
    fn vm_naming_types_and_timestamps() {
        let s = parse(
            b"cpu,host=a,region=eu usage=1.5,count=3i,big=7u,up=t,down=false,desc=\"x y\" 1700000000123456789\n",
            Precision::Nanoseconds,
            0,
        )
        .unwrap();
        let got: Vec<String> = s
            .iter()
            .map(|t| format!("{} {:?}", t.labels, t.samples[0]))
            .collect();
        assert_eq!(
            got,
            [
                r#"cpu_usage{host="a", region="eu"} Sample { timestamp: 1700000000123, value: 1.5 }"#,
                r#"cpu_count{host="a", region="eu"} Sample { timestamp: 1700000000123, value: 3.0 }"#,
                r#"cpu_big{host="a", region="eu"} Sample { timestamp: 1700000000123, value: 7.0 }"#,
                r#"cpu_up{host="a", region="eu"} Sample { timestamp: 1700000000123, value: 1.0 }"#,
                r#"cpu_down{host="a", region="eu"} Sample { timestamp: 1700000000123, value: 0.0 }"#,
            ]
        );
    }

    #[test]
    fn escapes_comments_default_timestamp_and_precisions() {
        let s = parse_ms("# comment\n\nmy\\ meas,tag\\,k=v\\=1\\ x f\\=x=2\n").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels.metric_name(), Some("my meas_f=x"));
        assert_eq!(s[0].labels.get("tag,k"), Some("v=1 x"));
        assert_eq!(s[0].samples[0].timestamp, 99);
        assert_eq!(
            parse(b"m v=1 5", Precision::Seconds, 0).unwrap()[0].samples[0].timestamp,
            5000
        );
        assert_eq!(
            parse(b"m v=1 5", Precision::Hours, 0).unwrap()[0].samples[0].timestamp,
            18_000_000
        );
        assert_eq!(
            parse(b"m v=1 5000", Precision::Microseconds, 0).unwrap()[0].samples[0].timestamp,
            5
        );
        assert!(parse(b"m v=1 9223372036854775807", Precision::Seconds, 0).is_err());
        assert_eq!(Precision::parse("us"), Some(Precision::Microseconds));
        assert_eq!(Precision::parse("week"), None);
    }

    #[test]
    fn string_only_lines_yield_nothing() {
        assert!(parse_ms("m s=\"text\" 1\n").unwrap().is_empty());
    }

    #[test]
    fn malformed_lines_fail_with_line_numbers() {
        for (body, line) in [
            ("m v=1\nm\n", 2),
            ("m v=abc\n", 1),
            ("m,t v=1\n", 1),
            ("m v=1 notatime\n", 1),
            (",t=a v=1\n", 1),
        ] {
            match parse_ms(body) {
                Err(DecodeError::Parse { line: l, .. }) => assert_eq!(l, line, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
        assert_eq!(
            parse(b"m,t=\xff v=1", Precision::Nanoseconds, 0)
                .unwrap_err()
                .reason(),
            "invalid_utf8"
        );
        assert_eq!(
            parse_ms("m,t=a,t=b v=1").unwrap_err().reason(),
            "invalid_label"
        );
    }
}
