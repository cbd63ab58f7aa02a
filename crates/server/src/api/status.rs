//! Health, readiness, self-metrics and the `/api/v1/status/*` endpoints.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tidemark_model::Tenant;

use super::params::Params;
use super::response::{success, ApiError};
use crate::state::{Phase, SharedState};

/// Liveness: the process is up and serving HTTP.
pub async fn health() -> &'static str {
    "OK"
}

pub async fn healthy() -> &'static str {
    "Tidemark is Healthy.\n"
}

fn readiness(st: &SharedState, ready_body: &'static str) -> Response {
    match st.phase() {
        Phase::Ready => ready_body.into_response(),
        Phase::Starting => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: storage is opening\n",
        )
            .into_response(),
        Phase::ShuttingDown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: shutting down\n",
        )
            .into_response(),
    }
}

/// Readiness: 503 until storage is open and again from the moment shutdown begins.
pub async fn ready(State(st): State<SharedState>) -> Response {
    readiness(&st, "OK")
}

pub async fn prometheus_ready(State(st): State<SharedState>) -> Response {
    readiness(&st, "Tidemark is Ready.\n")
}

/// Every setting comes from flags read at start, so there is nothing to reload; the
/// endpoint exists so Prometheus-oriented tooling that calls it gets a clear answer.
pub async fn reload() -> &'static str {
    "nothing to reload: Tidemark is configured by flags at start-up\n"
}

pub async fn metrics(State(st): State<SharedState>) -> Response {
    let mut out = String::with_capacity(16 * 1024);
    st.metrics
        .set_insert_inflight_bytes(st.admission.inflight_bytes());
    st.metrics.render(&mut out);
    if let Some(storage) = st.storage_if_open() {
        storage.write_metrics(&mut out);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}

pub async fn buildinfo() -> Response {
    success(
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("TIDEMARK_GIT_REVISION").unwrap_or("unknown"),
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        &[],
        &[],
    )
}

pub async fn flags(State(st): State<SharedState>) -> Response {
    let map: serde_json::Map<String, serde_json::Value> = st
        .config
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    success(serde_json::Value::Object(map), &[], &[])
}

pub async fn runtimeinfo(State(st): State<SharedState>) -> Response {
    let start: chrono::DateTime<chrono::Utc> = st.started_at.into();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let retention_days = st.config.retention.as_secs() / 86_400;
    success(
        json!({
            "startTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "CWD": cwd,
            "reloadConfigSuccess": true,
            "lastConfigTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "corruptionCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "storageRetention": format!("{retention_days}d"),
        }),
        &[],
        &[],
    )
}

fn name_values(list: &[(String, u64)]) -> serde_json::Value {
    json!(list
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect::<Vec<_>>())
}

/// Cardinality overview (`limit` = top N, default 10), in Prometheus' field names.
pub async fn tsdb(State(st): State<SharedState>, params: Params) -> Result<Response, ApiError> {
    let top_n = params.usize_or("limit", 10)?;
    if top_n == 0 {
        return Err(ApiError::bad_data("limit must be a positive number"));
    }
    let storage = st.storage()?;
    let status = tokio::task::spawn_blocking(move || storage.tsdb_status(Tenant::DEFAULT, top_n))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))??;
    Ok(success(
        json!({
            "headStats": {"numSeries": status.num_series},
            "totalSeries": status.num_series,
            "seriesCountByMetricName": name_values(&status.series_count_by_metric_name),
            "labelValueCountByLabelName": name_values(&status.label_value_count_by_label_name),
            "seriesCountByLabelName": name_values(&status.series_count_by_label_name),
            "seriesCountByLabelValuePair": name_values(&status.series_count_by_label_value_pair),
        }),
        &[],
        &[],
    ))
}

/// Exemplars are not stored (remote write 2.0 reports them as not written), so every
/// exemplar query has an empty, truthful answer; Grafana asks for them routinely.
pub async fn query_exemplars() -> Response {
    success(json!([]), &[], &[])
}

/// Tidemark evaluates no recording or alerting rules; Grafana's alerting views ask anyway.
pub async fn rules() -> Response {
    success(json!({"groups": []}), &[], &[])
}

pub async fn alerts() -> Response {
    success(json!({"alerts": []}), &[], &[])
}
