//! The public entry points: [`Engine`], its [`EngineOptions`] and the per-query
//! [`QueryContext`] used for cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::eval::Evaluator;
use crate::parse::parse_query;
use crate::{QueryError, QueryResult, Queryable};

/// Engine-wide limits and defaults. `Default` gives Prometheus' defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (Prometheus: 5m).
    pub lookback_delta_ms: i64,
    /// Upper bound on samples held in memory by one query (Prometheus `--query.max-samples`).
    pub max_samples: usize,
    /// Wall-clock limit of one query.
    pub timeout: Duration,
    /// Range queries may not produce more points per series than this.
    pub max_points_per_series: usize,
    /// Subquery step when written as `[10m:]`.
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 300_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            default_subquery_step_ms: 60_000,
        }
    }
}

/// Per-query control: a cancel flag the caller may set (e.g. on client disconnect)
/// and an optional deadline tighter than the engine timeout.
#[derive(Debug, Clone, Default)]
pub struct QueryContext {
    pub cancel: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
}

impl QueryContext {
    pub fn new() -> QueryContext {
        QueryContext::default()
    }

    /// Requests cancellation; the query stops at its next check with `QueryError::Canceled`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// A PromQL engine. Cheap to share: it holds only options.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at `t_ms`.
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_query_with(q, expr, t_ms, &QueryContext::default())
    }

    /// Evaluates `expr` at every `start_ms + k*step_ms <= end_ms`.
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_with(q, expr, start_ms, end_ms, step_ms, &QueryContext::default())
    }

    /// [`Engine::instant_query`] with cancellation.
    pub fn instant_query_with(
        &self,
        q: &dyn Queryable,
        expr: &str,
        t_ms: i64,
        ctx: &QueryContext,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse_query(expr)?;
        let ev = Evaluator::new(q, &self.opts, ctx, self.deadline(ctx), t_ms, t_ms, 0, &ast)?;
        ev.run_instant(&ast)
    }

    /// [`Engine::range_query`] with cancellation.
    pub fn range_query_with(
        &self,
        q: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        ctx: &QueryContext,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadData(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        let points = (end_ms - start_ms) / step_ms + 1;
        if points as u64 > self.opts.max_points_per_series as u64 {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let ast = parse_query(expr)?;
        let ev = Evaluator::new(
            q,
            &self.opts,
            ctx,
            self.deadline(ctx),
            start_ms,
            end_ms,
            step_ms,
            &ast,
        )?;
        ev.run_range(&ast)
    }

    fn deadline(&self, ctx: &QueryContext) -> Instant {
        let d = Instant::now() + self.opts.timeout;
        match ctx.deadline {
            Some(c) if c < d => c,
            _ => d,
        }
    }
}
