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
mod select_batches;
mod trim_syntax;
mod value;

pub use engine::{Engine, EngineOptions, QueryContext};
pub use parse::parse_query;
pub use select_batches::{InMemoryBatches, SeriesBatches};
pub use value::{FPoint, HPoint, InstantSample, QueryError, QueryResult, RangeSeries, Value};

use std::sync::Arc;

use tidemark_model::{HistogramSample, Labels, Matcher, Sample, TimeSeries};

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
    ) -> Result<Vec<SelectedSeries>, QueryError>;

    /// What [`Queryable::select`] returns, in label order, handed out in batches
    /// that are read when asked for. An aggregation over many series folds one
    /// batch at a time instead of holding every series' samples at once.
    ///
    /// The default selects everything and splits it; a source that can read
    /// batches lazily (the storage engine) overrides it.
    fn select_batches(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Box<dyn SeriesBatches + '_>, QueryError> {
        let mut series = self.select(matchers, start_ms, end_ms)?;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Box::new(InMemoryBatches::new(series)))
    }
}

/// One series as a [`Queryable`] returns it.
///
/// A series may mix floats and native histograms over time (a metric can switch
/// from classic to native histograms); each timestamp is in at most one of the two.
/// Stale markers are float samples holding `STALE_NAN`, whatever the series' kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectedSeries {
    /// Shared: a store that keeps its series' labels behind an `Arc` hands them
    /// over without copying them.
    pub labels: Arc<Labels>,
    /// Float samples sorted by timestamp.
    pub floats: Vec<Sample>,
    /// Start (created) timestamps of `floats`, index for index, when the source
    /// knows them; empty otherwise.
    pub float_start_timestamps: Vec<i64>,
    /// Native histogram samples sorted by timestamp.
    pub histograms: Vec<HistogramSample>,
    /// Start timestamps of `histograms`, index for index, or empty.
    pub histogram_start_timestamps: Vec<i64>,
}

impl From<TimeSeries> for SelectedSeries {
    /// A float-only series without start timestamps.
    fn from(ts: TimeSeries) -> SelectedSeries {
        SelectedSeries {
            labels: Arc::new(ts.labels),
            floats: ts.samples,
            ..SelectedSeries::default()
        }
    }
}
