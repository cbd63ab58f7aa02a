//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Hand-written: the crates.io candidates did not fit. `prometheus-parse` (0.2.5) has no
//! OpenMetrics support (no `# UNIT`, `# EOF`, exemplars or second-based timestamps) and
//! reads through regexes line by line; `openmetrics-parser` (0.5.1) is LGPL-3.0, which
//! this Apache-2.0 project does not take in, and rejects plain Prometheus text.
//!
//! Histograms and summaries arrive as their float series (`_bucket`, `_sum`, `_count`,
//! quantiles), which is how Prometheus stores classic histograms. Exemplars are checked
//! for shape and dropped.

mod cursor;
mod encode;
mod sample_line;

use std::collections::HashMap;

use tidemark_model::{MetricMetadata, MetricType};

pub use encode::encode;
pub(crate) use sample_line::parse_value;

use crate::error::truncate_for_message;
use crate::{DecodeError, WriteRequest};
use cursor::{is_metric_name_start, Cursor};
use sample_line::parse_sample_line;

/// Content type of the Prometheus text format.
pub const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The two dialects differ in timestamp units (ms vs s), exemplars and `# EOF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Prometheus text 0.0.4: integer millisecond timestamps.
    Prometheus,
    /// OpenMetrics 1.0: second timestamps, exemplars, `# UNIT`, mandatory `# EOF`.
    OpenMetrics,
}

impl Flavor {
    /// The flavor a `Content-Type` names, if it names one.
    pub fn from_content_type(content_type: &str) -> Option<Flavor> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Some(Flavor::OpenMetrics)
        } else if media.eq_ignore_ascii_case("text/plain") {
            Some(Flavor::Prometheus)
        } else {
            None
        }
    }

    /// OpenMetrics bodies must end with `# EOF`; Prometheus text never needs it.
    pub fn detect(body: &str) -> Flavor {
        let last = body
            .trim_end_matches(['\n', '\r', ' ', '\t'])
            .rsplit('\n')
            .next()
            .unwrap_or("");
        if last.trim_end_matches('\r') == "# EOF" {
            Flavor::OpenMetrics
        } else {
            Flavor::Prometheus
        }
    }
}

/// Parses a body, detecting the flavor from a trailing `# EOF` line.
/// Samples without a timestamp get `default_timestamp_ms`.
pub fn parse(body: &str, default_timestamp_ms: i64) -> Result<WriteRequest, DecodeError> {
    parse_flavor(body, Flavor::detect(body), default_timestamp_ms)
}

/// Like [`parse`] for raw bytes, which must be UTF-8.
pub fn parse_bytes(body: &[u8], default_timestamp_ms: i64) -> Result<WriteRequest, DecodeError> {
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse(text, default_timestamp_ms)
}

/// Parses a body of a known flavor.
pub fn parse_flavor(
    body: &str,
    flavor: Flavor,
    default_timestamp_ms: i64,
) -> Result<WriteRequest, DecodeError> {
    let mut out = WriteRequest::default();
    let mut metadata = MetadataCollector::default();
    let mut seen_eof = false;
    for (i, raw_line) in body.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.trim().is_empty() {
            continue;
        }
        if seen_eof {
            return Err(DecodeError::parse(line_no, "content after # EOF"));
        }
        if let Some(comment) = line.strip_prefix('#') {
            match parse_comment(comment).map_err(|m| DecodeError::parse(line_no, m))? {
                Comment::Eof if flavor == Flavor::OpenMetrics => seen_eof = true,
                Comment::Eof | Comment::Other => {}
                Comment::Help(name, help) => metadata.entry(name).help = help,
                Comment::Type(name, t) => metadata.entry(name).metric_type = t,
                Comment::Unit(name, unit) => metadata.entry(name).unit = unit,
            }
            continue;
        }
        out.series.push(parse_sample_line(
            line,
            line_no,
            flavor,
            default_timestamp_ms,
        )?);
    }
    if flavor == Flavor::OpenMetrics && !seen_eof {
        // OpenMetrics makes `# EOF` mandatory precisely so that a cut-off body is
        // detected instead of being stored as if it were complete.
        return Err(DecodeError::parse(
            body.split('\n').count(),
            "OpenMetrics body does not end with \"# EOF\" (truncated?)",
        ));
    }
    out.metadata = metadata.finish();
    Ok(out)
}

enum Comment {
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    Eof,
    Other,
}

/// Interprets the text after `#`. Unknown keywords are plain comments.
fn parse_comment(comment: &str) -> Result<Comment, String> {
    let mut c = Cursor::new(comment);
    if !c.skip_blanks() {
        return Ok(Comment::Other);
    }
    let keyword = c.token();
    if keyword == "EOF" {
        c.skip_blanks();
        return Ok(if c.at_end() {
            Comment::Eof
        } else {
            Comment::Other
        });
    }
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Ok(Comment::Other);
    }
    if !c.skip_blanks() {
        return Err(format!("# {keyword} needs a metric name"));
    }
    let name = match c.peek() {
        Some(b'"') => c.quoted()?,
        Some(b) if is_metric_name_start(b) => c.name().to_string(),
        _ => return Err(format!("# {keyword} needs a metric name")),
    };
    if name.is_empty() {
        return Err(format!("# {keyword} needs a metric name"));
    }
    let had_blank = c.skip_blanks();
    if !c.at_end() && !had_blank {
        return Err(format!("invalid metric name in # {keyword}"));
    }
    let text = c.rest();
    Ok(match keyword {
        "HELP" => Comment::Help(name, unescape_help(text)),
        "UNIT" => Comment::Unit(name, text.trim_end().to_string()),
        _ => Comment::Type(name, parse_type(text.trim_end())?),
    })
}

fn parse_type(s: &str) -> Result<MetricType, String> {
    match s {
        "untyped" | "unknown" => Ok(MetricType::Unknown),
        _ => match MetricType::parse(s) {
            MetricType::Unknown => {
                Err(format!("unknown metric type {:?}", truncate_for_message(s)))
            }
            t => Ok(t),
        },
    }
}

/// HELP text escapes `\\` and `\n` (and `\"` in OpenMetrics); other backslashes stay as written.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Merges HELP/TYPE/UNIT lines per family, in order of first appearance.
#[derive(Default)]
struct MetadataCollector {
    entries: Vec<MetricMetadata>,
    index: HashMap<String, usize>,
}

impl MetadataCollector {
    fn entry(&mut self, family: String) -> &mut MetricMetadata {
        let i = match self.index.get(&family) {
            Some(&i) => i,
            None => {
                self.entries.push(MetricMetadata {
                    metric_family: family.clone(),
                    ..Default::default()
                });
                self.index.insert(family, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    fn finish(self) -> Vec<MetricMetadata> {
        self.entries
    }
}

#[cfg(test)]
mod tests;
