//! Query result values, shaped like Prometheus' `promql.Value` so that native
//! histograms slot in next to floats.

use std::fmt;
use std::sync::Arc;

use tidemark_model::{FloatHistogram, Labels};

/// A float point of a range series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    pub t: i64,
    pub f: f64,
}

/// A histogram point of a range series.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    pub t: i64,
    pub h: Arc<FloatHistogram>,
}

/// One element of an instant vector: a float, or a histogram when `h` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<Arc<FloatHistogram>>,
}

/// One series of a matrix. Floats and histograms are kept apart, each sorted by time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeSeries {
    pub labels: Labels,
    pub floats: Vec<FPoint>,
    pub histograms: Vec<HPoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// A value with the annotations Prometheus returns next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    /// "PromQL warning: ..." texts.
    pub warnings: Vec<String>,
    /// "PromQL info: ..." texts.
    pub infos: Vec<String>,
}

/// Query failures, mapped one-to-one onto the Prometheus API's `errorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Parse or validation error (HTTP 400, `bad_data`).
    BadData(String),
    /// Evaluation error, including resource limits (HTTP 422, `execution`).
    Execution(String),
    /// The query ran past its deadline (HTTP 503, `timeout`).
    Timeout(String),
    /// The client went away (HTTP 499, `canceled`).
    Canceled,
    /// A storage or internal failure (HTTP 500, `internal`).
    Internal(String),
}

impl QueryError {
    /// The `errorType` field of the Prometheus API.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled => "canceled",
            QueryError::Internal(_) => "internal",
        }
    }

    /// The HTTP status code Prometheus uses for this error type.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_) => 422,
            QueryError::Timeout(_) => 503,
            QueryError::Canceled => 499,
            QueryError::Internal(_) => 500,
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadData(m) | QueryError::Execution(m) | QueryError::Internal(m) => {
                f.write_str(m)
            }
            QueryError::Timeout(m) => write!(f, "query timed out in {m}"),
            QueryError::Canceled => f.write_str("query was canceled"),
        }
    }
}

impl std::error::Error for QueryError {}
