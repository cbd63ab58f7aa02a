//! One sample line: `name{label="value",...} value [timestamp] [# exemplar]`.

use tidemark_model::{Label, Sample, TimeSeries, METRIC_NAME};

use super::cursor::{is_metric_name_start, Cursor};
use super::Flavor;
use crate::error::truncate_for_message;
use crate::labels_check::validated_labels;
use crate::DecodeError;

/// Parses one non-comment line. Both the classic syntax and the UTF-8 quoted form
/// (`{"my.metric", "label.name"="v"}`) of Prometheus 3 are accepted.
pub(super) fn parse_sample_line(
    line: &str,
    line_no: usize,
    flavor: Flavor,
    default_timestamp_ms: i64,
) -> Result<TimeSeries, DecodeError> {
    let err = |m: String| DecodeError::parse(line_no, m);
    let mut c = Cursor::new(line);
    let mut pairs: Vec<Label> = Vec::new();
    if c.peek().is_some_and(is_metric_name_start) {
        pairs.push(Label::new(METRIC_NAME, c.name()));
    } else if c.peek() != Some(b'{') {
        return Err(err("expected a metric name or '{'".into()));
    }
    if c.eat(b'{') {
        parse_label_block(&mut c, &mut pairs).map_err(err)?;
    }
    if !c.skip_blanks() {
        return Err(err(format!(
            "expected a blank before the value, found {:?}",
            first_char(c.rest())
        )));
    }
    let value = parse_value(c.token()).map_err(err)?;
    c.skip_blanks();
    let mut timestamp = default_timestamp_ms;
    if !c.at_end() && c.peek() != Some(b'#') {
        timestamp = parse_timestamp(c.token(), flavor).map_err(err)?;
        c.skip_blanks();
    }
    if !c.at_end() {
        // OpenMetrics exemplar (`# {trace_id="..."} 1.0 [ts]`): checked for shape, not stored.
        if flavor != Flavor::OpenMetrics || !c.eat(b'#') {
            return Err(err(format!(
                "unexpected text after the sample: {:?}",
                truncate_for_message(c.rest())
            )));
        }
        parse_exemplar(&mut c).map_err(err)?;
    }
    let labels = validated_labels(pairs)?;
    Ok(TimeSeries::new(labels, vec![Sample::new(timestamp, value)]))
}

/// Parses the inside of `{...}` (the `{` is already consumed), including the closing `}`.
fn parse_label_block(c: &mut Cursor<'_>, pairs: &mut Vec<Label>) -> Result<(), String> {
    let mut first = true;
    loop {
        c.skip_blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        if !first {
            if !c.eat(b',') {
                return Err("expected ',' or '}' in label set".into());
            }
            c.skip_blanks();
            if c.eat(b'}') {
                return Ok(());
            }
        }
        let name = match c.peek() {
            Some(b'"') => c.quoted()?,
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                let n = c.name();
                if n.contains(':') {
                    return Err(format!("invalid label name {:?}", truncate_for_message(n)));
                }
                n.to_string()
            }
            _ => return Err("expected a label name".into()),
        };
        c.skip_blanks();
        if !c.eat(b'=') {
            // A lone quoted string names the metric (UTF-8 syntax), once and only first.
            let is_quoted_name = first && !pairs.iter().any(|l| l.name == METRIC_NAME);
            if is_quoted_name && matches!(c.peek(), Some(b',' | b'}' | b' ' | b'\t')) {
                pairs.push(Label::new(METRIC_NAME, name));
                first = false;
                continue;
            }
            return Err(format!(
                "expected '=' after label name {:?}",
                truncate_for_message(&name)
            ));
        }
        c.skip_blanks();
        let value = c.quoted()?;
        pairs.push(Label::new(name, value));
        first = false;
    }
}

fn parse_exemplar(c: &mut Cursor<'_>) -> Result<(), String> {
    c.skip_blanks();
    if !c.eat(b'{') {
        return Err("expected '{' to start an exemplar".into());
    }
    let mut ignored = Vec::new();
    parse_label_block(c, &mut ignored)?;
    c.skip_blanks();
    parse_value(c.token())?;
    c.skip_blanks();
    if !c.at_end() {
        parse_timestamp(c.token(), Flavor::OpenMetrics)?;
        c.skip_blanks();
    }
    if !c.at_end() {
        return Err(format!(
            "unexpected text after the exemplar: {:?}",
            truncate_for_message(c.rest())
        ));
    }
    Ok(())
}

/// Go's `strconv.ParseFloat` spellings: decimals, exponents, `NaN`, `+Inf`, `-Inf`, `Inf`.
pub(crate) fn parse_value(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("missing sample value".into());
    }
    s.parse::<f64>()
        .map_err(|_| format!("invalid sample value {:?}", truncate_for_message(s)))
}

/// Prometheus text carries integer milliseconds; OpenMetrics carries (fractional) seconds.
fn parse_timestamp(s: &str, flavor: Flavor) -> Result<i64, String> {
    let bad = || format!("invalid timestamp {:?}", truncate_for_message(s));
    match flavor {
        Flavor::Prometheus => s.parse::<i64>().map_err(|_| bad()),
        Flavor::OpenMetrics => {
            let secs: f64 = s.parse().map_err(|_| bad())?;
            let ms = (secs * 1000.0).round();
            // i64::MAX as f64 rounds up to 2^63, so the upper bound must be exclusive.
            if !ms.is_finite() || ms < i64::MIN as f64 || ms >= i64::MAX as f64 {
                return Err(bad());
            }
            Ok(ms as i64)
        }
    }
}

fn first_char(s: &str) -> String {
    s.chars()
        .next()
        .map(String::from)
        .unwrap_or_else(|| "end of line".into())
}
