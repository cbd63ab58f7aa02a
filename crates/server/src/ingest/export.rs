//! `GET|POST /api/v1/export`: matching series as VictoriaMetrics JSON lines, so data
//! moves between Tidemark and VictoriaMetrics with `/api/v1/import` on either side.
//!
//! The body is streamed (chunked): only label sets are collected up front; samples are
//! read a chunk of series at a time on the blocking pool and handed to the connection
//! through a small bounded channel, so exporting a large database holds at most a few
//! chunks in memory and stops as soon as the client goes away. Chunk sizes adapt to
//! the samples per series seen so far, so long time ranges read fewer series at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tidemark_model::{Labels, MatchOp, Matcher, Tenant, TimeSeries, METRIC_NAME};
use tidemark_protocols::jsonline;
use tidemark_storage::{Storage, StorageError};
use tokio::sync::mpsc;

use crate::api::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::api::response::ApiError;
use crate::state::SharedState;

/// Series in the first chunk read; later chunks are sized from the samples seen.
const FIRST_CHUNK_SERIES: usize = 100;
/// Most series one chunk reads, however few samples they have.
const MAX_CHUNK_SERIES: usize = 1_000;
/// Samples one chunk should hold (16 MiB of samples).
const TARGET_CHUNK_SAMPLES: usize = 1 << 20;
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

/// The client went away; the export stops quietly.
struct Disconnected;

fn write_groups(
    storage: &Storage,
    req: &ExportRequest,
    groups: BTreeMap<Option<String>, Vec<Labels>>,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StorageError> {
    let mut out = Vec::with_capacity(CHUNK_BYTES * 2);
    let mut sizer = ChunkSizer::default();
    for (name, labels) in groups {
        let mut rest = labels.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(sizer.next_len().min(rest.len()));
            rest = tail;
            let series = read_chunk(storage, req, name.as_deref(), chunk)?;
            sizer.record(chunk.len(), series.iter().map(|s| s.samples.len()).sum());
            for ts in &series {
                if write_one(ts, tx, &mut out).is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !out.is_empty() {
        let _ = tx.blocking_send(Ok(Bytes::from(out)));
    }
    Ok(())
}

/// Chooses how many series the next chunk reads from the samples per series so far.
#[derive(Default)]
struct ChunkSizer {
    series: usize,
    samples: usize,
}

impl ChunkSizer {
    fn next_len(&self) -> usize {
        if self.series == 0 {
            return FIRST_CHUNK_SERIES;
        }
        let per_series = (self.samples / self.series).max(1);
        (TARGET_CHUNK_SAMPLES / per_series).clamp(1, MAX_CHUNK_SERIES)
    }

    fn record(&mut self, series: usize, samples: usize) {
        self.series += series;
        self.samples += samples;
    }
}

/// The samples of exactly the series in `chunk` (consecutive series of one metric).
fn read_chunk(
    storage: &Storage,
    req: &ExportRequest,
    name: Option<&str>,
    chunk: &[Labels],
) -> Result<Vec<TimeSeries>, StorageError> {
    let Some(matchers) = chunk_matchers(name, chunk) else {
        // No label narrows the chunk down: one exact lookup per series.
        let mut out = Vec::with_capacity(chunk.len());
        for labels in chunk {
            let exact: Vec<Matcher> = labels
                .iter()
                .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
                .collect();
            out.extend(
                storage
                    .select(Tenant::DEFAULT, &exact, req.start, req.end)?
                    .into_iter()
                    .filter(|ts| &ts.labels == labels),
            );
        }
        return Ok(out);
    };
    let wanted: HashSet<&Labels> = chunk.iter().collect();
    Ok(storage
        .select(Tenant::DEFAULT, &matchers, req.start, req.end)?
        .into_iter()
        .filter(|ts| wanted.contains(&ts.labels))
        .collect())
}

/// Matchers selecting the chunk's series (and possibly a few others of the metric, which
/// the caller filters out): the metric name plus `label=~"v1|v2|..."` on the label that
/// every series of the chunk has and that tells most of them apart. `None` when no such
/// label exists.
fn chunk_matchers(name: Option<&str>, chunk: &[Labels]) -> Option<Vec<Matcher>> {
    let first = chunk.first()?;
    let best = first
        .iter()
        .filter(|l| l.name != METRIC_NAME)
        .filter_map(|l| {
            let values: Option<BTreeSet<&str>> = chunk.iter().map(|s| s.get(&l.name)).collect();
            values.map(|v| (v.len(), l.name.as_str(), v))
        })
        .max_by_key(|(distinct, _, _)| *distinct);
    let mut matchers = Vec::with_capacity(2);
    if let Some(name) = name {
        matchers.push(Matcher::equal(METRIC_NAME, name));
    }
    match best {
        Some((_, label, values)) => {
            let pattern = values
                .iter()
                .map(|v| regex::escape(v))
                .collect::<Vec<_>>()
                .join("|");
            matchers.push(Matcher::new(MatchOp::Regex, label, pattern).ok()?);
        }
        None if name.is_some() && chunk.len() == 1 => {}
        None => return None,
    }
    Some(matchers)
}

fn write_one(
    ts: &TimeSeries,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    out: &mut Vec<u8>,
) -> Result<(), Disconnected> {
    if ts.samples.is_empty() {
        return Ok(());
    }
    jsonline::write_series(ts, out);
    if out.len() >= CHUNK_BYTES {
        let chunk = Bytes::from(std::mem::replace(out, Vec::with_capacity(CHUNK_BYTES * 2)));
        tx.blocking_send(Ok(chunk)).map_err(|_| Disconnected)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn chunks_are_selected_by_the_most_distinctive_common_label() {
        let chunk = [
            labels(&[("__name__", "m"), ("job", "a"), ("path", "/x.y")]),
            labels(&[("__name__", "m"), ("job", "a"), ("path", "/z")]),
        ];
        let m = chunk_matchers(Some("m"), &chunk).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].name, "path");
        for l in &chunk {
            assert!(m[1].matches(l.get("path").unwrap()));
        }
        assert!(!m[1].matches("/xzy"), "values are literals, not patterns");
    }

    #[test]
    fn chunks_without_a_common_label_fall_back() {
        let chunk = [
            labels(&[("__name__", "m"), ("a", "1")]),
            labels(&[("__name__", "m"), ("b", "1")]),
        ];
        assert!(chunk_matchers(Some("m"), &chunk).is_none());
        let single = [labels(&[("__name__", "m")])];
        assert_eq!(chunk_matchers(Some("m"), &single).unwrap().len(), 1);
    }

    #[test]
    fn chunk_size_follows_samples_per_series() {
        let mut sizer = ChunkSizer::default();
        assert_eq!(sizer.next_len(), FIRST_CHUNK_SERIES);
        sizer.record(100, 100 * 10);
        assert_eq!(
            sizer.next_len(),
            MAX_CHUNK_SERIES,
            "small series: big chunks"
        );
        let mut sizer = ChunkSizer::default();
        sizer.record(10, 10 * (TARGET_CHUNK_SAMPLES / 4));
        assert_eq!(sizer.next_len(), 4, "long series: few per chunk");
        sizer.record(1, 100 * TARGET_CHUNK_SAMPLES);
        assert_eq!(sizer.next_len(), 1);
    }
}
