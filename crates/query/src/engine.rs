//! The public entry points: [`Engine`], its [`EngineOptions`] and the per-query
//! [`QueryContext`] used for cancellation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ast::Expr;
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

/// A PromQL engine. Cheap to share: it holds options and a cache of parsed queries
/// (shared by clones).
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
    parsed: Arc<ParseCache>,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine {
            opts,
            parsed: Arc::default(),
        }
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
        let ast = self.parsed.parse(expr)?;
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
        let ast = self.parsed.parse(expr)?;
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

/// Parsed queries by their text. Dashboards send the same queries again and again, and
/// parsing (several µs) is a real share of a query that evaluates in a fraction of a
/// millisecond. Parsing depends on the text alone, so a cached tree is exact. Errors are
/// not cached.
#[derive(Debug, Default)]
struct ParseCache {
    entries: Mutex<HashMap<String, Arc<Expr>>>,
}

/// Distinct queries kept; when full, the cache starts over (cheap, and it soon holds
/// again whatever the dashboards ask now).
const PARSE_CACHE_ENTRIES: usize = 512;
/// Longer queries are parsed each time: they are rare, and the cache's memory stays
/// bounded by entries × this.
const PARSE_CACHE_MAX_QUERY_BYTES: usize = 4096;

impl ParseCache {
    fn parse(&self, text: &str) -> Result<Arc<Expr>, QueryError> {
        if text.len() > PARSE_CACHE_MAX_QUERY_BYTES {
            return parse_query(text).map(Arc::new);
        }
        if let Some(ast) = self.lock().get(text) {
            return Ok(ast.clone());
        }
        let ast = Arc::new(parse_query(text)?);
        let mut entries = self.lock();
        if entries.len() >= PARSE_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(text.to_string(), ast.clone());
        Ok(ast)
    }

    /// The map survives a panic elsewhere while it was locked: every entry in it is
    /// complete, since entries are inserted whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Expr>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_trees_equal_fresh_ones_and_are_reused() {
        let cache = ParseCache::default();
        let text = "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / 2";
        let first = cache.parse(text).unwrap();
        let again = cache.parse(text).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second parse was not served from the cache"
        );
        assert_eq!(*first, parse_query(text).unwrap());
    }

    #[test]
    fn errors_are_returned_each_time_and_not_cached() {
        let cache = ParseCache::default();
        for _ in 0..2 {
            assert!(matches!(cache.parse("sum(("), Err(QueryError::BadData(_))));
        }
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ParseCache::default();
        for i in 0..PARSE_CACHE_ENTRIES + 10 {
            cache.parse(&format!("metric_{i}")).unwrap();
        }
        assert!(cache.lock().len() <= PARSE_CACHE_ENTRIES);
        let long = format!(
            "metric{{label=\"{}\"}}",
            "x".repeat(PARSE_CACHE_MAX_QUERY_BYTES)
        );
        cache.parse(&long).unwrap();
        assert!(
            !cache.lock().contains_key(&long),
            "an over-long query was cached"
        );
    }
}
