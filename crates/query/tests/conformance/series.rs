//! Series descriptions of the `.test` language (FORMAT.md §3): a label set followed by a
//! value sequence in "expanding notation", used both by `load` bodies and by expected
//! results of `eval`.

use std::sync::OnceLock;

use regex::Regex;
use tidemark_model::{Labels, STALE_NAN};

use super::histogram::{parse_histogram_item, HistogramValue};

/// One slot of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// `_`: nothing stored / no point expected at this position.
    Gap,
    Float(f64),
    Histogram(Box<HistogramValue>),
}

/// A parsed series description line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub slots: Vec<Slot>,
}

/// Parses `name{l="v"} items...`. The label part ends at the first whitespace outside braces.
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_labels_prefix(line)?;
    let slots = parse_value_sequence(rest)?;
    Ok(SeriesDesc { labels, slots })
}

/// Splits a line into its label set and the remaining text.
pub fn parse_labels_prefix(line: &str) -> Result<(Labels, &str), String> {
    let line = line.trim_start();
    let bytes = line.as_bytes();
    let mut pos = 0;
    let mut pairs: Vec<(String, String)> = Vec::new();
    while pos < bytes.len() && is_metric_name_char(bytes[pos], pos == 0) {
        pos += 1;
    }
    if pos > 0 {
        pairs.push(("__name__".to_string(), line[..pos].to_string()));
    }
    if pos < bytes.len() && bytes[pos] == b'{' {
        pos += 1;
        loop {
            pos = skip_spaces(line, pos);
            match bytes.get(pos) {
                None => return Err(format!("unterminated label set in {line:?}")),
                Some(b'}') => {
                    pos += 1;
                    break;
                }
                Some(b',') => {
                    pos += 1;
                    continue;
                }
                _ => {}
            }
            let (name, after_name) = parse_label_name(line, pos)?;
            pos = skip_spaces(line, after_name);
            if bytes.get(pos) != Some(&b'=') {
                // A lone quoted string is the metric name (`{"my.metric", a="b"}`).
                if line[..after_name].ends_with(['"', '\'', '`']) {
                    pairs.push(("__name__".to_string(), name));
                    continue;
                }
                return Err(format!(
                    "expected '=' after label name {name:?} in {line:?}"
                ));
            }
            pos = skip_spaces(line, pos + 1);
            let (value, after_value) = parse_string_literal(line, pos)?;
            pairs.push((name, value));
            pos = after_value;
        }
    }
    if pos == 0 {
        return Err(format!("missing series labels in {line:?}"));
    }
    Ok((Labels::from_pairs(pairs), &line[pos..]))
}

fn is_metric_name_char(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

fn skip_spaces(s: &str, mut pos: usize) -> usize {
    while s
        .as_bytes()
        .get(pos)
        .is_some_and(|b| b.is_ascii_whitespace())
    {
        pos += 1;
    }
    pos
}

fn parse_label_name(s: &str, pos: usize) -> Result<(String, usize), String> {
    let bytes = s.as_bytes();
    if matches!(bytes.get(pos), Some(b'"' | b'\'' | b'`')) {
        return parse_string_literal(s, pos);
    }
    let mut end = pos;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    if end == pos {
        return Err(format!("expected a label name at byte {pos} of {s:?}"));
    }
    Ok((s[pos..end].to_string(), end))
}

/// Parses a PromQL string literal starting at `pos` (double, single or back quotes);
/// returns the unescaped text and the position after the closing quote.
pub fn parse_string_literal(s: &str, pos: usize) -> Result<(String, usize), String> {
    let quote = match s.as_bytes().get(pos) {
        Some(&q @ (b'"' | b'\'' | b'`')) => q as char,
        _ => return Err(format!("expected a quoted string at byte {pos} of {s:?}")),
    };
    let mut out = String::new();
    let mut chars = s[pos + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, pos + 1 + i + 1));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' | '"' | '\'' => out.push(e),
            'x' | 'u' | 'U' => {
                let digits = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .map_err(|_| format!("bad escape \\{e}{hex} in {s:?}"))?;
                out.push(
                    char::from_u32(code)
                        .ok_or_else(|| format!("escape \\{e}{hex} is not a character"))?,
                );
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&format!("{e}{rest}"), 8)
                    .map_err(|_| format!("bad octal escape in {s:?}"))?;
                out.push(
                    char::from_u32(code)
                        .ok_or_else(|| format!("octal escape {code} is not a character"))?,
                );
            }
            other => return Err(format!("unknown escape \\{other} in {s:?}")),
        }
    }
    Err(format!("unterminated string literal in {s:?}"))
}

const NUMBER_PATTERN: &str =
    r"(?i:inf|nan|0x[0-9a-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)";

/// `v`, `vxN`, `v+dxN`, `v-dxN`. The `xN` form is tried first so that `0+0x10` reads as
/// "0, step 0, 10 more" rather than ending in the hex number `0x10`.
fn float_item_captures(item: &str) -> Option<regex::Captures<'_>> {
    static REPEAT: OnceLock<Regex> = OnceLock::new();
    static SINGLE: OnceLock<Regex> = OnceLock::new();
    let num = NUMBER_PATTERN;
    let repeat = REPEAT.get_or_init(|| {
        Regex::new(&format!(r"^([+-]?{num})(?:([+-])({num}))?x([0-9]+)$")).expect("valid regex")
    });
    let single =
        SINGLE.get_or_init(|| Regex::new(&format!(r"^([+-]?{num})$")).expect("valid regex"));
    repeat.captures(item).or_else(|| single.captures(item))
}

/// Parses a PromQL number literal (decimal, hex, `Inf`, `NaN`, optional sign).
pub fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    } else {
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Expands a whitespace-separated value sequence into slots.
pub fn parse_value_sequence(text: &str) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::new();
    for item in split_items(text)? {
        expand_item(item, &mut slots)?;
    }
    Ok(slots)
}

/// Splits on whitespace, keeping `{{ ... }}` histogram literals (which contain spaces) whole.
fn split_items(text: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos].is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            if text[pos..].starts_with("{{") {
                let close = text[pos..]
                    .find("}}")
                    .ok_or_else(|| format!("unterminated histogram in {text:?}"))?;
                pos += close + 2;
            } else {
                pos += 1;
            }
        }
        items.push(&text[start..pos]);
    }
    Ok(items)
}

fn repeat_count(n: &str, item: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .map_err(|_| format!("bad repetition count in {item:?}"))
}

fn expand_item(item: &str, slots: &mut Vec<Slot>) -> Result<(), String> {
    if item == "_" {
        slots.push(Slot::Gap);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = repeat_count(n, item)?;
        slots.extend(std::iter::repeat_n(Slot::Gap, n));
        return Ok(());
    }
    if item == "stale" {
        slots.push(Slot::Float(STALE_NAN));
        return Ok(());
    }
    if item.starts_with("{{") {
        for h in parse_histogram_item(item)? {
            slots.push(Slot::Histogram(Box::new(h)));
        }
        return Ok(());
    }
    let caps = float_item_captures(item).ok_or_else(|| format!("invalid value item {item:?}"))?;
    let start = parse_number(&caps[1]).ok_or_else(|| format!("invalid number in {item:?}"))?;
    let count = match caps.get(4) {
        Some(n) => repeat_count(n.as_str(), item)?,
        None => {
            slots.push(Slot::Float(start));
            return Ok(());
        }
    };
    let mut delta = match (caps.get(2), caps.get(3)) {
        (Some(_), Some(d)) => {
            parse_number(d.as_str()).ok_or_else(|| format!("invalid increment in {item:?}"))?
        }
        _ => 0.0,
    };
    if caps.get(2).is_some_and(|s| s.as_str() == "-") {
        delta = -delta;
    }
    // Repeated addition, exactly as upstream does, so rounding matches its expectations.
    let mut v = start;
    slots.push(Slot::Float(v));
    for _ in 0..count {
        v += delta;
        slots.push(Slot::Float(v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::is_stale_nan;

    fn floats(text: &str) -> Vec<Option<f64>> {
        parse_value_sequence(text)
            .unwrap()
            .into_iter()
            .map(|s| match s {
                Slot::Float(f) => Some(f),
                Slot::Gap => None,
                Slot::Histogram(_) => panic!("unexpected histogram"),
            })
            .collect()
    }

    #[test]
    fn expanding_notation_matches_format_worked_example() {
        let v = floats("5 2+3x2 _ stale");
        assert_eq!(&v[..5], &[Some(5.0), Some(2.0), Some(5.0), Some(8.0), None]);
        assert!(is_stale_nan(v[5].unwrap()));
        assert_eq!(
            floats("-2+4x3"),
            vec![Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(floats("1 +1"), vec![Some(1.0), Some(1.0)]);
        assert_eq!(floats("10-2x2"), vec![Some(10.0), Some(8.0), Some(6.0)]);
        assert_eq!(
            floats("_x3 7x1"),
            vec![None, None, None, Some(7.0), Some(7.0)]
        );
        assert_eq!(floats("1e-3+1e-3x1"), vec![Some(1e-3), Some(2e-3)]);
        assert_eq!(floats("0+0x2"), vec![Some(0.0), Some(0.0), Some(0.0)]);
    }

    #[test]
    fn special_numbers() {
        let v = floats("Inf -Inf +inf NaN 0x1f .5");
        assert_eq!(v[0], Some(f64::INFINITY));
        assert_eq!(v[1], Some(f64::NEG_INFINITY));
        assert_eq!(v[2], Some(f64::INFINITY));
        assert!(v[3].unwrap().is_nan() && !is_stale_nan(v[3].unwrap()));
        assert_eq!(v[4], Some(31.0));
        assert_eq!(v[5], Some(0.5));
        assert!(parse_value_sequence("1x").is_err());
        assert!(parse_value_sequence("abc").is_err());
        assert!(parse_value_sequence("1+2").is_err());
    }

    #[test]
    fn label_forms() {
        let d =
            parse_series_desc(r#"http_requests{job="api", instance='0', x=`a\b`}  1 2"#).unwrap();
        assert_eq!(
            d.labels.to_string(),
            r#"http_requests{instance="0", job="api", x="a\\b"}"#
        );
        assert_eq!(d.slots.len(), 2);
        let d = parse_series_desc(r#"{__name__="up", job="a\"b\n"} 1"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("up"));
        assert_eq!(d.labels.get("job"), Some("a\"b\n"));
        let d = parse_series_desc("{} 92").unwrap();
        assert!(d.labels.is_empty());
        let d = parse_series_desc(r#"{"my.metric", "a.b"="c"} 1"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("my.metric"));
        assert_eq!(d.labels.get("a.b"), Some("c"));
        assert!(parse_series_desc(r#"m{a="b" 1"#).is_err());
        assert!(parse_series_desc("1 2").is_err());
    }
}
