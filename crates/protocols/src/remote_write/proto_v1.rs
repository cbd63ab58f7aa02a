//! `prometheus.WriteRequest` (remote write 1.0), declared by hand with prost derives.
//!
//! Only the fields Tidemark reads are declared: exemplars (field 3 of `TimeSeries`) and
//! native histograms (field 4) are skipped by prost as unknown fields, without allocating.

use prost::Message;

/// The request body: series and the metadata of their families.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: its labels and float samples.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// One label pair.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One float sample; `timestamp` in ms.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Type, help and unit of one metric family.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// `prometheus.MetricMetadata.MetricType`: 0 unknown .. 7 stateset, the same
    /// numbering as remote write 2.0 (see [`super::metric_type_from_proto`]).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}
