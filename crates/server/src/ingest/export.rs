//! `GET|POST /api/v1/export`: matching series as VictoriaMetrics JSON lines, so data
//! moves between Tidemark and VictoriaMetrics with `/api/v1/import` on either side.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tidemark_model::{Labels, Tenant, TimeSeries};
use tidemark_protocols::jsonline;

use crate::api::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::api::response::ApiError;
use crate::api::with_storage;
use crate::state::SharedState;

pub async fn export(State(st): State<SharedState>, params: Params) -> Response {
    let result = run(&st, &params).await;
    crate::ingest::finish(&st, "export", result)
}

async fn run(st: &SharedState, params: &Params) -> Result<Response, ApiError> {
    let sets = params.match_sets()?;
    if sets.is_empty() {
        return Err(ApiError::bad_data(
            "missing match[] parameter; e.g. match[]={__name__!=\"\"} exports everything",
        ));
    }
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let body = with_storage(st, move |storage| {
        // Several match[] may select the same series; export each once, in label order.
        let mut by_labels: BTreeMap<Labels, TimeSeries> = BTreeMap::new();
        for set in &sets {
            for ts in storage.select(Tenant::DEFAULT, set, start, end)? {
                by_labels.entry(ts.labels.clone()).or_insert(ts);
            }
        }
        let mut out = Vec::new();
        for ts in by_labels.values().filter(|ts| !ts.samples.is_empty()) {
            jsonline::write_series(ts, &mut out);
        }
        Ok(out)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(jsonline::CONTENT_TYPE),
        )],
        body,
    )
        .into_response())
}
