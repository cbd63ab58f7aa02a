//! Native histogram value type (float counts), laid out as Prometheus' `FloatHistogram`.
//!
//! Storage and PromQL support for native histograms is not built yet; this type
//! exists so that query results, the HTTP API and the on-disk sample kind can carry
//! them later without an API break.

/// A span of consecutive buckets: `offset` is the gap (in buckets) from the previous span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    pub offset: i32,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// -4..=8 exponential schemas, or -53 for custom buckets.
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<BucketSpan>,
    pub positive_buckets: Vec<f64>,
    pub negative_spans: Vec<BucketSpan>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds for schema -53 (custom buckets); `+Inf` is implicit.
    pub custom_values: Vec<f64>,
}
