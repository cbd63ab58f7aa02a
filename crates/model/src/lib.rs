//! The data model shared by every Tidemark crate.
//!
//! Data flows `model → protocols → storage → query → server`; this crate is the
//! bottom of that stack and depends on nothing else of ours. It holds only plain
//! types with the Prometheus semantics every layer agrees on:
//!
//! * [`Labels`]: a sorted, de-duplicated label set (`__name__` included).
//! * [`Sample`]: an `i64` millisecond timestamp and an `f64` value, with the
//!   Prometheus stale marker kept bit-exact ([`STALE_NAN`]).
//! * [`Tenant`]: account and project ids, `0:0` by default.
//! * [`Matcher`]: `=`, `!=`, `=~`, `!~` with fully anchored, Go-RE2-like regexes.

mod histogram;
mod labels;
mod matcher;
mod sample;
mod tenant;

pub use histogram::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample};
pub use labels::{
    is_valid_label_name, is_valid_metric_name, Label, Labels, LabelsBuilder, METRIC_NAME,
};
pub use matcher::{compile_anchored_go_regex, MatchOp, Matcher, MatcherError};
pub use sample::{is_stale_nan, Sample, SampleKind, TimeSeries, STALE_NAN, STALE_NAN_BITS};
pub use tenant::{Tenant, TenantParseError};

/// Metric type, as carried by exposition formats and remote-write metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// The lower-case name used by the Prometheus HTTP API (`/api/v1/metadata`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }

    /// Parses the names used by the text format and the HTTP API; unknown words map to `Unknown`.
    pub fn parse(s: &str) -> MetricType {
        match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
}

/// Metadata of one metric family (`/api/v1/metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricMetadata {
    /// Family name (the metric name without `_total`/`_bucket`-style suffixes).
    pub metric_family: String,
    /// Declared type; `Unknown` when none was sent.
    pub metric_type: MetricType,
    /// `# HELP` text, unescaped.
    pub help: String,
    /// `# UNIT` text; empty when none was sent.
    pub unit: String,
}
