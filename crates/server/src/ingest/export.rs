//! `GET|POST /api/v1/export`: matching series as VictoriaMetrics JSON lines, so data
//! moves between Tidemark and VictoriaMetrics with `/api/v1/import` on either side.
//!
//! The body is streamed (chunked): only label sets are collected up front; samples are
//! read a batch of series at a time on the blocking pool and handed to the connection
//! through a small bounded channel, so exporting a large database holds at most a few
//! batches in memory and stops as soon as the client goes away.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tidemark_model::{Labels, Matcher, Tenant, TimeSeries, METRIC_NAME};
use tidemark_protocols::jsonline;
use tidemark_storage::{Storage, StorageError};
use tokio::sync::mpsc;

use crate::api::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::api::response::ApiError;
use crate::state::SharedState;

/// Series of one metric read with a single select; larger metrics are read series by
/// series so that one batch never holds more than this many series' samples.
const BATCH_SERIES: usize = 1_000;
/// Flush the output buffer to the connection once it holds this much.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks queued between the reader and the connection (backpressure).
const QUEUED_CHUNKS: usize = 4;

pub async fn export(State(st): State<SharedState>, params: Params) -> Response {
    let result = start(&st, &params).await;
    crate::ingest::finish(&st, "export", result)
}

struct ExportRequest {
    sets: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
}

fn parse_request(params: &Params) -> Result<ExportRequest, ApiError> {
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
    Ok(ExportRequest { sets, start, end })
}

/// Validates, lists the matching series (errors still become a proper status), then
/// streams their samples.
async fn start(st: &SharedState, params: &Params) -> Result<Response, ApiError> {
    let req = parse_request(params)?;
    let storage = st.storage()?;
    let (storage, req, groups) = tokio::task::spawn_blocking(move || {
        let groups = series_by_metric(&storage, &req)?;
        Ok::<_, StorageError>((storage, req, groups))
    })
    .await
    .map_err(|e| ApiError::internal(format!("export task failed: {e}")))??;

    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = write_groups(&storage, &req, groups, &tx) {
            tracing::warn!(error = %e, "export stopped early");
            // The status line is gone; an aborted chunked body tells the client.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(jsonline::CONTENT_TYPE),
        )],
        Body::new(ChannelBody { rx }),
    )
        .into_response())
}

/// Matching label sets, grouped by metric name (each group sorted, every series once
/// even when several `match[]` select it).
fn series_by_metric(
    storage: &Storage,
    req: &ExportRequest,
) -> Result<BTreeMap<Option<String>, Vec<Labels>>, StorageError> {
    let all = storage.series(Tenant::DEFAULT, &req.sets, req.start, req.end, 0)?;
    let mut groups: BTreeMap<Option<String>, Vec<Labels>> = BTreeMap::new();
    for labels in all {
        groups
            .entry(labels.metric_name().map(str::to_string))
            .or_default()
            .push(labels);
    }
    Ok(groups)
}

/// Why writing stopped early.
enum Stop {
    Storage(StorageError),
    /// The client went away; not an error.
    Disconnected,
}

fn write_groups(
    storage: &Storage,
    req: &ExportRequest,
    groups: BTreeMap<Option<String>, Vec<Labels>>,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StorageError> {
    let mut out = Vec::with_capacity(CHUNK_BYTES * 2);
    for (name, labels) in groups {
        match read_group(storage, req, name.as_deref(), &labels, tx, &mut out) {
            Ok(()) => {}
            Err(Stop::Disconnected) => return Ok(()),
            Err(Stop::Storage(e)) => return Err(e),
        }
    }
    if !out.is_empty() {
        let _ = tx.blocking_send(Ok(Bytes::from(out)));
    }
    Ok(())
}

/// Writes one metric's series: one select when the group is small, else one per series.
fn read_group(
    storage: &Storage,
    req: &ExportRequest,
    name: Option<&str>,
    labels: &[Labels],
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    out: &mut Vec<u8>,
) -> Result<(), Stop> {
    match name {
        Some(name) if labels.len() <= BATCH_SERIES => {
            let mut found: BTreeMap<Labels, TimeSeries> = BTreeMap::new();
            for set in &req.sets {
                let mut matchers = set.clone();
                matchers.push(Matcher::equal(METRIC_NAME, name));
                for ts in storage
                    .select(Tenant::DEFAULT, &matchers, req.start, req.end)
                    .map_err(Stop::Storage)?
                {
                    found.entry(ts.labels.clone()).or_insert(ts);
                }
            }
            for ts in found.values() {
                write_one(ts, tx, out)?;
            }
        }
        _ => {
            for l in labels {
                if let Some(ts) = select_exact(storage, l, req.start, req.end)? {
                    write_one(&ts, tx, out)?;
                }
            }
        }
    }
    Ok(())
}

/// The one series with exactly these labels (equality matchers also match supersets).
fn select_exact(
    storage: &Storage,
    labels: &Labels,
    start: i64,
    end: i64,
) -> Result<Option<TimeSeries>, Stop> {
    let matchers: Vec<Matcher> = labels
        .iter()
        .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
        .collect();
    Ok(storage
        .select(Tenant::DEFAULT, &matchers, start, end)
        .map_err(Stop::Storage)?
        .into_iter()
        .find(|ts| &ts.labels == labels))
}

fn write_one(
    ts: &TimeSeries,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    out: &mut Vec<u8>,
) -> Result<(), Stop> {
    if ts.samples.is_empty() {
        return Ok(());
    }
    jsonline::write_series(ts, out);
    if out.len() >= CHUNK_BYTES {
        let chunk = Bytes::from(std::mem::replace(out, Vec::with_capacity(CHUNK_BYTES * 2)));
        tx.blocking_send(Ok(chunk))
            .map_err(|_| Stop::Disconnected)?;
    }
    Ok(())
}

/// A response body fed by the export task; dropping it (client gone) closes the
/// channel, which stops the task at its next send.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}
