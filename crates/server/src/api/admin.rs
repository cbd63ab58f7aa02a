//! Administrative endpoints: series deletion, snapshots, forced flush and merge.
//! Snapshots are offered in both Prometheus' and VictoriaMetrics' URL shapes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tidemark_model::Tenant;

use super::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use super::response::{success, ApiError};
use super::with_storage;
use crate::state::SharedState;

/// `POST /api/v1/admin/tsdb/delete_series?match[]=...[&start=&end=]`: 204 like
/// Prometheus. Without `start` and `end` whole series go; with either, only the samples
/// in `[start, end]` (an open side extends to the beginning or end of time).
pub async fn delete_series(
    State(st): State<SharedState>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = params.match_sets()?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let range = if params.get("start").is_some() || params.get("end").is_some() {
        let start = params.time_or("start", MIN_TIME_MS)?;
        let end = params.time_or("end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        Some((start, end))
    } else {
        None
    };
    let affected = with_storage(&st, move |s| {
        let mut total = 0;
        for set in &sets {
            total += match range {
                None => s.delete_series(Tenant::DEFAULT, set)?,
                Some((start, end)) => s.delete_range(Tenant::DEFAULT, set, start, end)?,
            };
        }
        Ok(total)
    })
    .await?;
    match range {
        None => tracing::info!(series = affected, "deleted series"),
        Some((start, end)) => {
            tracing::info!(
                series = affected,
                start,
                end,
                "deleted a time range of series"
            )
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/admin/tsdb/snapshot`: `{"status":"success","data":{"name":...}}`.
pub async fn prometheus_snapshot(State(st): State<SharedState>) -> Result<Response, ApiError> {
    let name = with_storage(&st, |s| s.create_snapshot()).await?;
    Ok(success(json!({"name": name}), &[], &[]))
}

/// `/snapshot/create`: `{"status":"ok","snapshot":...}` like VictoriaMetrics.
pub async fn vm_snapshot_create(State(st): State<SharedState>) -> Result<Response, ApiError> {
    let name = with_storage(&st, |s| s.create_snapshot()).await?;
    Ok(axum::Json(json!({"status": "ok", "snapshot": name})).into_response())
}

pub async fn vm_snapshot_list(State(st): State<SharedState>) -> Result<Response, ApiError> {
    let names = with_storage(&st, |s| s.list_snapshots()).await?;
    Ok(axum::Json(json!({"status": "ok", "snapshots": names})).into_response())
}

/// `/snapshot/delete?snapshot=<name>`.
pub async fn vm_snapshot_delete(
    State(st): State<SharedState>,
    params: Params,
) -> Result<Response, ApiError> {
    let name = params
        .get("snapshot")
        .ok_or_else(|| ApiError::bad_data("missing parameter \"snapshot\""))?
        .to_string();
    with_storage(&st, move |s| s.delete_snapshot(&name)).await?;
    Ok(axum::Json(json!({"status": "ok"})).into_response())
}

pub async fn vm_snapshot_delete_all(State(st): State<SharedState>) -> Result<Response, ApiError> {
    with_storage(&st, |s| {
        for name in s.list_snapshots()? {
            s.delete_snapshot(&name)?;
        }
        Ok(())
    })
    .await?;
    Ok(axum::Json(json!({"status": "ok"})).into_response())
}

/// `/internal/force_flush`: makes recently ingested data immutable parts now.
pub async fn force_flush(State(st): State<SharedState>) -> Result<Response, ApiError> {
    with_storage(&st, |s| s.flush()).await?;
    Ok(StatusCode::OK.into_response())
}

/// `/internal/force_merge`: flushes, then merges parts as far as possible.
pub async fn force_merge(State(st): State<SharedState>) -> Result<Response, ApiError> {
    with_storage(&st, |s| s.force_merge()).await?;
    Ok(StatusCode::OK.into_response())
}
