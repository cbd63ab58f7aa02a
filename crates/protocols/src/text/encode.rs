//! Writes series in the Prometheus text format 0.0.4 (for federation-style export and tests).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::number::format_value;

use tidemark_model::{
    is_valid_metric_name, Labels, MetricMetadata, MetricType, TimeSeries, METRIC_NAME,
};

/// Family suffixes that classic histograms, summaries and counters add to a metric name.
const FAMILY_SUFFIXES: [&str; 6] = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];

/// Renders series (one line per sample, with its timestamp); each family's HELP/TYPE/UNIT
/// lines from `metadata` precede its first series. The stale marker is written as `NaN`,
/// since the text format has no way to carry the NaN payload.
pub fn encode(series: &[TimeSeries], metadata: &[MetricMetadata]) -> String {
    let by_family: HashMap<&str, &MetricMetadata> = metadata
        .iter()
        .map(|m| (m.metric_family.as_str(), m))
        .collect();
    let mut written: HashSet<&str> = HashSet::new();
    let mut out = String::new();
    for ts in series {
        if let Some(md) = ts
            .labels
            .metric_name()
            .and_then(|n| family_of(n, &by_family))
        {
            if written.insert(md.metric_family.as_str()) {
                write_metadata(&mut out, md);
            }
        }
        write_series(&mut out, ts);
    }
    out
}

fn family_of<'a>(
    name: &str,
    by_family: &HashMap<&str, &'a MetricMetadata>,
) -> Option<&'a MetricMetadata> {
    if let Some(m) = by_family.get(name) {
        return Some(m);
    }
    FAMILY_SUFFIXES
        .iter()
        .find_map(|suffix| by_family.get(name.strip_suffix(suffix)?).copied())
}

/// Appends `# HELP`, `# TYPE` and `# UNIT` lines (only those with content).
fn write_metadata(out: &mut String, md: &MetricMetadata) {
    let name = quote_name_if_needed(&md.metric_family);
    if !md.help.is_empty() {
        let help = md.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {name} {help}");
    }
    if md.metric_type != MetricType::Unknown {
        let _ = writeln!(out, "# TYPE {name} {}", md.metric_type.as_str());
    }
    if !md.unit.is_empty() {
        let _ = writeln!(out, "# UNIT {name} {}", md.unit.replace('\n', " "));
    }
}

/// Appends one `name{labels} value timestamp` line per sample.
fn write_series(out: &mut String, ts: &TimeSeries) {
    let mut prefix = String::new();
    write_labels(&mut prefix, &ts.labels);
    for s in &ts.samples {
        let _ = writeln!(out, "{prefix} {} {}", format_value(s.value), s.timestamp);
    }
}

fn write_labels(out: &mut String, labels: &Labels) {
    let name = labels.metric_name().unwrap_or("");
    let classic_name = is_valid_metric_name(name);
    let mut open = false;
    if classic_name {
        out.push_str(name);
    } else if !name.is_empty() {
        out.push('{');
        write_quoted(out, name);
        open = true;
    }
    for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
        out.push(if open { ',' } else { '{' });
        open = true;
        if is_classic_label_name(&l.name) {
            out.push_str(&l.name);
        } else {
            write_quoted(out, &l.name);
        }
        out.push('=');
        write_quoted(out, &l.value);
    }
    if open {
        out.push('}');
    }
}

fn quote_name_if_needed(name: &str) -> String {
    if is_valid_metric_name(name) {
        name.to_string()
    } else {
        let mut s = String::new();
        write_quoted(&mut s, name);
        s
    }
}

fn is_classic_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}
