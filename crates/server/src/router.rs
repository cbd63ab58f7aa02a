//! The URL map. Every Prometheus API path is also served under `/prometheus/...`
//! (VictoriaMetrics' layout), so Grafana and promtool work with either base URL.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use base64::Engine as _;

use crate::api::response::ApiError;
use crate::api::{admin, query, series, status};
use crate::ingest::{export, formats, remote_write};
use crate::state::SharedState;

/// Routes that exist both at the root and under `/prometheus`.
fn prometheus_api() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/v1/query",
            get(query::instant_query).post(query::instant_query),
        )
        .route(
            "/api/v1/query_range",
            get(query::range_query).post(query::range_query),
        )
        .route("/api/v1/series", get(series::series).post(series::series))
        .route(
            "/api/v1/labels",
            get(series::label_names).post(series::label_names),
        )
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/metadata", get(series::metadata))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route(
            "/api/v1/query_exemplars",
            get(status::query_exemplars).post(status::query_exemplars),
        )
        .route("/api/v1/rules", get(status::rules))
        .route("/api/v1/alerts", get(status::alerts))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(admin::prometheus_snapshot).put(admin::prometheus_snapshot),
        )
        .route("/api/v1/write", post(remote_write::write))
        .route("/api/v1/import", post(formats::import_jsonl))
        .route(
            "/api/v1/import/prometheus",
            post(formats::import_prometheus),
        )
        .route("/api/v1/export", get(export::export).post(export::export))
        .route("/write", post(formats::influx_write))
        .route("/api/v2/write", post(formats::influx_write))
        .route("/api/put", post(formats::opentsdb_put))
}

pub fn router(st: SharedState) -> Router {
    let api = prometheus_api();
    Router::new()
        .merge(api.clone())
        .nest("/prometheus", api)
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/-/healthy", get(status::healthy))
        .route("/-/ready", get(status::prometheus_ready))
        .route("/-/reload", post(status::reload).put(status::reload))
        .route("/metrics", get(status::metrics))
        .route("/snapshot/create", any(admin::vm_snapshot_create))
        .route("/snapshot/list", any(admin::vm_snapshot_list))
        .route("/snapshot/delete", any(admin::vm_snapshot_delete))
        .route("/snapshot/delete_all", any(admin::vm_snapshot_delete_all))
        .route("/internal/force_flush", any(admin::force_flush))
        .route("/internal/force_merge", any(admin::force_merge))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(st.clone(), basic_auth))
        .layer(middleware::from_fn_with_state(st.clone(), count_requests))
        .with_state(st)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ))
}

/// Counts every request by route template (bounded cardinality) and status code.
async fn count_requests(State(st): State<SharedState>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let resp = next.run(req).await;
    st.metrics.http_request(&path, resp.status().as_u16());
    resp
}

/// Probes must work without credentials (orchestrators do not send them).
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/-/healthy" | "/-/ready")
}

async fn basic_auth(State(st): State<SharedState>, req: Request, next: Next) -> Response {
    let Some(auth) = &st.config.auth else {
        return next.run(req).await;
    };
    if is_probe(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let ok = presented
        .as_deref()
        .and_then(|s| s.split_once(':'))
        .is_some_and(|(user, pass)| {
            constant_time_eq(user.as_bytes(), auth.username.as_bytes())
                & constant_time_eq(pass.as_bytes(), auth.password.as_bytes())
        });
    if ok {
        return next.run(req).await;
    }
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong basic-auth credentials",
    )
    .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"tidemark\""),
    );
    resp
}

/// Compares without an early exit so response timing does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
