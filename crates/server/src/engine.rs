//! The server's handle on the PromQL engine: builds it from the query limits and
//! always passes the per-request context (cancellation and deadline).

use tidemark_query::{Engine, EngineOptions, QueryContext, QueryError, QueryResult, Queryable};

use crate::config::QueryLimits;

pub struct QueryEngine {
    engine: Engine,
}

impl QueryEngine {
    pub fn new(limits: &QueryLimits) -> QueryEngine {
        let max_samples = if limits.max_samples == 0 {
            usize::MAX
        } else {
            limits.max_samples
        };
        let opts = EngineOptions {
            max_samples,
            timeout: limits.timeout,
            ..EngineOptions::default()
        };
        QueryEngine {
            engine: Engine::new(opts),
        }
    }

    /// Evaluates `expr` at `t_ms`.
    pub fn instant(
        &self,
        q: &dyn Queryable,
        ctx: &QueryContext,
        expr: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.engine
            .instant_query_with(q, expr, t_ms, ctx)
            .map_err(as_query_parameter_error)
    }

    /// Evaluates `expr` at `start_ms, start_ms + step_ms, ... <= end_ms`.
    pub fn range(
        &self,
        q: &dyn Queryable,
        ctx: &QueryContext,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.engine
            .range_query_with(q, expr, start_ms, end_ms, step_ms, ctx)
            .map_err(as_query_parameter_error)
    }
}

/// Prometheus reports a query it cannot parse or type-check as a bad `query`
/// parameter (`invalid parameter "query": 1:5: parse error: ...`); evaluation errors
/// have other types and no prefix.
fn as_query_parameter_error(err: QueryError) -> QueryError {
    match err {
        QueryError::BadData(message) => {
            QueryError::BadData(format!("invalid parameter \"query\": {message}"))
        }
        other => other,
    }
}
