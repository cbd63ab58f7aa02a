//! Native histogram value type (float counts), laid out as Prometheus' `FloatHistogram`.
//!
//! Every layer (ingestion, storage, PromQL, HTTP API) carries native histograms as
//! this one type; integer-count histograms from the wire are converted on decode.

/// A span of consecutive buckets: `offset` is the gap (in buckets) from the previous span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    /// Buckets skipped since the end of the previous span (or from index 0).
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// What the producer says about counter resets between this histogram and the
/// previous sample of the series (Prometheus' `CounterResetHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[repr(u8)]
pub enum CounterResetHint {
    /// Nothing is known; a reset is detected by comparing with the previous sample.
    #[default]
    Unknown = 0,
    /// A counter reset happened right before this sample.
    CounterReset = 1,
    /// No counter reset happened before this sample.
    NotCounterReset = 2,
    /// The histogram is a gauge: resets are meaningless.
    Gauge = 3,
}

/// One native histogram sample with float counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter-reset information from the producer (part of the value, as in Prometheus).
    pub counter_reset_hint: CounterResetHint,
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

/// A native histogram at a millisecond timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub timestamp: i64,
    pub histogram: FloatHistogram,
}
