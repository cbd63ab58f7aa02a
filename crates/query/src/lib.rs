//! PromQL evaluation with Prometheus 3.x semantics.
//!
//! The engine reads data only through the [`Queryable`] trait, so the same engine
//! serves the single-node server (backed by `tidemark-storage`) and, later, cluster
//! select nodes (backed by a fan-out client).
//!
//! Entry point: [`Engine::instant_query`] / [`Engine::range_query`] (and the `_with`
//! variants taking a [`QueryContext`] for cancellation).

pub mod ast;
mod engine;
mod eval;
mod functions;
mod parse;
mod positions;
mod preprocess;
mod value;

pub use engine::{Engine, EngineOptions, QueryContext};
pub use parse::parse_query;
pub use value::{FPoint, HPoint, InstantSample, QueryError, QueryResult, RangeSeries, Value};

use tidemark_model::{Matcher, TimeSeries};

/// The data source the engine evaluates against.
pub trait Queryable: Send + Sync {
    /// All series matching every matcher that have samples in `[start_ms, end_ms]`
    /// (both inclusive), with those samples sorted by timestamp. Stale markers are
    /// returned as stored; the engine interprets them.
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, QueryError>;
}
