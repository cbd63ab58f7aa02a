//! `/api/v1/query` and `/api/v1/query_range`.
//!
//! Queries run on rayon's pool (PromQL evaluation is CPU-bound; see `compute`), or
//! inline when the same query took at most 1 ms last time (`recent_costs`), at most
//! `--search.max-concurrent-queries` at a time with a bounded queue wait. A client
//! disconnect drops the handler future, whose guard cancels a pooled evaluation; an
//! inline one is short and stops at its deadline.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use tidemark_model::Tenant;
use tidemark_query::{QueryContext, QueryError, QueryResult};

use super::compute::{self, Placement};
use super::params::{parse_duration_ms, Params};
use super::promjson::query_response;
use super::recent_costs::CostKey;
use super::response::{raw_json, ApiError};
use crate::engine::QueryEngine;
use crate::queryable::{query_context, CancelOnDrop, StorageQueryable};
use crate::state::SharedState;

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn query_param(params: &Params) -> String {
    params.get("query").unwrap_or_default().to_string()
}

/// The query's time budget: the `timeout` parameter, capped by `--search.timeout`.
fn effective_timeout(st: &SharedState, params: &Params) -> Result<Duration, ApiError> {
    let max = st.config.query.timeout;
    match params.get("timeout") {
        None => Ok(max),
        Some(s) => {
            let ms = parse_duration_ms(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
            Ok(Duration::from_millis(ms as u64).min(max))
        }
    }
}

pub async fn instant_query(
    State(st): State<SharedState>,
    params: Params,
) -> Result<Response, ApiError> {
    let expr = query_param(&params);
    let t = params.time_or("time", now_ms())?;
    let timeout = effective_timeout(&st, &params)?;
    let cost_key = CostKey::new("instant", &expr, 1);
    run(st, "instant", timeout, cost_key, move |engine, q, ctx| {
        engine.instant(q, ctx, &expr, t)
    })
    .await
}

pub async fn range_query(
    State(st): State<SharedState>,
    params: Params,
) -> Result<Response, ApiError> {
    let expr = query_param(&params);
    let start = required_time(&params, "start")?;
    let end = required_time(&params, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step_raw = params.get("step").ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"step\": cannot parse \"\" to a valid duration")
    })?;
    let step = parse_duration_ms(step_raw)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = effective_timeout(&st, &params)?;
    let cost_key = CostKey::new("range", &expr, (end - start) / step + 1);
    run(st, "range", timeout, cost_key, move |engine, q, ctx| {
        engine.range(q, ctx, &expr, start, end, step)
    })
    .await
}

fn required_time(params: &Params, key: &str) -> Result<i64, ApiError> {
    match params.get(key) {
        None => Err(ApiError::bad_data(format!(
            "invalid parameter \"{key}\": cannot parse \"\" to a valid timestamp"
        ))),
        Some(_) => params.time_or(key, 0),
    }
}

/// Runs one evaluation on the compute pool under the concurrency limit, deadline and
/// cancel-on-disconnect guard, and answers with its Prometheus JSON.
async fn run<F>(
    st: SharedState,
    kind: &'static str,
    timeout: Duration,
    cost_key: CostKey,
    eval: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&QueryEngine, &StorageQueryable, &QueryContext) -> Result<QueryResult, QueryError>
        + Send
        + 'static,
{
    let handler = if kind == "instant" {
        "query"
    } else {
        "query_range"
    };
    match run_guarded(&st, timeout, cost_key, eval).await {
        Ok(rendered) => {
            st.metrics
                .observe_query(kind, rendered.evaluation.as_secs_f64());
            Ok(raw_json(rendered.body))
        }
        Err(e) => {
            st.metrics.rejected(handler, e.reason());
            Err(e)
        }
    }
}

/// A successful evaluation, already rendered.
struct Rendered {
    body: String,
    /// From admission to the end of evaluation (rendering excluded).
    evaluation: Duration,
}

async fn run_guarded<F>(
    st: &SharedState,
    timeout: Duration,
    cost_key: CostKey,
    eval: F,
) -> Result<Rendered, ApiError>
where
    F: FnOnce(&QueryEngine, &StorageQueryable, &QueryContext) -> Result<QueryResult, QueryError>
        + Send
        + 'static,
{
    let storage = st.storage()?;
    let permit = st.acquire_query_slot().await?;
    let started = Instant::now();
    let ctx = query_context(started + timeout);
    let _cancel_on_drop = CancelOnDrop(ctx.clone());
    let task_state = st.clone();
    let task_ctx = ctx.clone();
    // Rendering runs where the evaluation does: a large answer takes milliseconds to
    // write out and to free, which would otherwise stall a tokio worker.
    let placement = Placement::from_last_cost(st.recent_costs.last(cost_key));
    st.metrics.query_placed(placement.label());
    let task = compute::evaluate(placement, move || {
        let _permit = permit;
        let _in_flight = InFlight::enter(&task_state);
        let q = StorageQueryable::new(storage, Tenant::DEFAULT, task_ctx.clone());
        let result = eval(&task_state.engine, &q, &task_ctx);
        if matches!(result, Err(QueryError::Canceled)) {
            task_state.metrics.query_canceled();
        }
        let evaluation = started.elapsed();
        let rendered = result.map(|r| Rendered {
            body: query_response(&r.value, &r.warnings, &r.infos),
            evaluation,
        });
        task_state.recent_costs.record(cost_key, started.elapsed());
        rendered
    });
    // The evaluation checks the deadline itself; the grace period covers a select that
    // is slow to return, after which the client gets its answer without waiting further.
    let grace = Duration::from_millis(500);
    match tokio::time::timeout(timeout + grace, task).await {
        Err(_) => Err(QueryError::Timeout("query execution".to_string()).into()),
        Ok(Err(panicked)) => Err(ApiError::internal(format!(
            "query evaluation failed: {panicked}"
        ))),
        Ok(Ok(result)) => Ok(result?),
    }
}

/// Counts one evaluation in the in-flight gauge for as long as it lives, so the gauge
/// comes back down even when the evaluation panics.
struct InFlight<'a>(&'a SharedState);

impl<'a> InFlight<'a> {
    fn enter(st: &'a SharedState) -> InFlight<'a> {
        st.metrics.queries_in_flight().inc();
        InFlight(st)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.queries_in_flight().dec();
    }
}
