//! Wire formats: every decoder turns bytes into [`tidemark_model::TimeSeries`] batches
//! and never panics on bad input; every error is a [`DecodeError`] with a clear reason.
//!
//! | module | format |
//! | --- | --- |
//! | [`remote_write`] | Prometheus remote write 1.0 (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`) |
//! | [`text`] | Prometheus text exposition 0.0.4 and OpenMetrics 1.0 |
//! | [`influx`] | InfluxDB line protocol, with VictoriaMetrics' naming rules |
//! | [`opentsdb`] | OpenTSDB HTTP `/api/put` JSON and telnet `put` lines |
//! | [`jsonline`] | VictoriaMetrics JSON-lines import/export |
//!
//! Decoders only allocate in proportion to the bytes they were given: protobuf length
//! prefixes are checked against the remaining input, and the decompressed size a snappy
//! header announces is checked against the caller's `max_decoded_bytes` before the
//! buffer is allocated. The caller bounds memory by bounding the request body.

mod error;
mod extra_labels;
pub mod influx;
pub mod jsonline;
mod labels_check;
mod number;
pub mod opentsdb;
pub mod remote_write;
pub mod text;

pub use error::DecodeError;
pub use extra_labels::apply_extra_labels;

use tidemark_model::{MetricMetadata, TimeSeries};

/// A decoded batch: float series plus the metric metadata that came with them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteRequest {
    /// Series with at least one float sample, labels validated.
    pub series: Vec<TimeSeries>,
    /// Metric-family metadata (type, help, unit) sent alongside.
    pub metadata: Vec<MetricMetadata>,
}

impl WriteRequest {
    /// Total number of float samples over all series.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}
