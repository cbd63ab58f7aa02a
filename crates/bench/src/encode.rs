//! The remote-write wire format the workload is sent in.
//!
//! Encoding is delegated to `tidemark-protocols` (one protobuf encoder in the project);
//! this module only pins down the request form every system is sent: remote write 1.0,
//! protobuf, snappy block compression.

use tidemark_model::TimeSeries;

/// HTTP headers a Prometheus 1.0 remote-write sender sets.
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A snappy-compressed `prometheus.WriteRequest` body.
pub fn encode_request(series: &[TimeSeries]) -> Vec<u8> {
    tidemark_protocols::remote_write::encode_v1(series)
}
