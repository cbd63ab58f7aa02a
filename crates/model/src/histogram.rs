//! Native histogram value type (float counts), laid out as Prometheus' `FloatHistogram`.
//!
//! Storage and PromQL support for native histograms is not built yet; this type
//! exists so that query results, the HTTP API and the on-disk sample kind can carry
//! them later without an API break.

/// A span of consecutive buckets: `offset` is the gap (in buckets) from the previous span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    /// Buckets skipped since the end of the previous span (or from index 0).
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// One native histogram sample with float counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// -4..=8 exponential schemas, or -53 for custom buckets.
    pub schema: i32,
    /// Observations with absolute value at most this fall in the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of all observations.
    pub sum: f64,
    /// Which positive buckets `positive_buckets` holds.
    pub positive_spans: Vec<BucketSpan>,
    /// Absolute counts of the populated positive buckets, in span order.
    pub positive_buckets: Vec<f64>,
    /// Which negative buckets `negative_buckets` holds.
    pub negative_spans: Vec<BucketSpan>,
    /// Absolute counts of the populated negative buckets, in span order.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds for schema -53 (custom buckets); `+Inf` is implicit.
    pub custom_values: Vec<f64>,
}
