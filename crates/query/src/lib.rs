//! PromQL evaluation with Prometheus 3.x semantics.
//!
//! The engine reads data only through the [`Queryable`] trait, so the same engine
//! serves the single-node server (backed by `tidemark-storage`) and, later, cluster
//! select nodes (backed by a fan-out client).

mod functions;
mod value;

pub use value::{FPoint, HPoint, InstantSample, QueryError, QueryResult, RangeSeries, Value};

use tidemark_model::{Matcher, TimeSeries};

/// The data source the engine evaluates against.
pub trait Queryable: Send + Sync {
    /// All series matching every matcher that have samples in `[start_ms, end_ms]`
    /// (both inclusive), with those samples sorted by timestamp. Stale markers are
    /// returned as stored; the engine interprets them.
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<TimeSeries>, QueryError>;
}
