//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0.
//!
//! The message version comes from `Content-Type` (415 for anything else); success is
//! 204 and, for 2.0, the `X-Prometheus-Remote-Write-*-Written` headers report what was
//! actually stored: float samples and native histogram samples (both versions store
//! histograms, see [`super::histograms`]); exemplars are validated but not stored.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use tidemark_model::Tenant;
use tidemark_protocols::remote_write::{
    check_content_encoding, decode_v1_borrowed, decode_v1_histograms, decompress_into, negotiate,
    RemoteWriteVersion,
};
use tidemark_storage::{AppendStats, SeriesRef, Storage};

use super::body::Encodings;
use super::{finish, histograms, ingest_with, Ingested, Stored};
use crate::api::params::Params;
use crate::api::response::ApiError;
use crate::state::SharedState;

const PROTOCOL: &str = "remote_write";

pub async fn write(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let result = handle(&st, &headers, &params, body).await;
    finish(&st, PROTOCOL, result)
}

/// Remote write 1.0, the hot ingestion path: snappy into a per-thread buffer reused
/// across requests, labels decoded as slices of it and appended borrowed, so a request
/// for series that already exist allocates a few vectors rather than two strings per
/// label.
fn store_v1(
    body: Bytes,
    limit: usize,
    storage: &Storage,
    extra: &[(String, String)],
) -> Result<Stored, ApiError> {
    /// Buffers above this are not kept for the next request, so one huge request does
    /// not pin its memory in every blocking thread that served one.
    const MAX_KEPT_BUFFER: usize = 4 << 20;
    thread_local! {
        static RAW: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut raw = RAW.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let result = decompress_into(&body, limit, &mut raw)
        .map_err(ApiError::from)
        .and_then(|()| {
            drop(body);
            let mut request = decode_v1_borrowed(&raw)?;
            // Decoded (and validated) before any append, so a bad histogram rejects
            // the whole request.
            let histogram_series = if request.carries_histograms() {
                histograms::to_storage(decode_v1_histograms(&raw)?, extra)
            } else {
                Vec::new()
            };
            request.apply_extra_labels(extra);
            let series: Vec<SeriesRef<'_>> = request
                .series()
                .map(|(labels, samples)| SeriesRef { labels, samples })
                .collect();
            let stats = if series.is_empty() {
                AppendStats::default()
            } else {
                storage.append_borrowed(Tenant::DEFAULT, &series)?
            };
            let stats =
                histograms::add_stats(stats, histograms::append(storage, &histogram_series)?);
            Ok(Stored {
                ingested: Ingested {
                    stats,
                    histograms_dropped: 0,
                    exemplars_dropped: 0,
                },
                metadata: std::mem::take(&mut request.metadata),
            })
        });
    if raw.capacity() <= MAX_KEPT_BUFFER {
        RAW.with(|b| *b.borrow_mut() = raw);
    }
    result
}

fn header_str<'a>(headers: &'a HeaderMap, name: header::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

async fn handle(
    st: &SharedState,
    headers: &HeaderMap,
    params: &Params,
    body: Body,
) -> Result<Response, ApiError> {
    let version = negotiate(header_str(headers, header::CONTENT_TYPE))?;
    let histograms_written = Arc::new(AtomicU64::new(0));
    check_content_encoding(header_str(headers, header::CONTENT_ENCODING))?;
    let ingested = match version {
        RemoteWriteVersion::V1 => {
            ingest_with(
                st,
                PROTOCOL,
                headers,
                params,
                body,
                Encodings::PayloadCompressed,
                store_v1,
            )
            .await?
        }
        RemoteWriteVersion::V2 => {
            let written = histograms_written.clone();
            ingest_with(
                st,
                PROTOCOL,
                headers,
                params,
                body,
                Encodings::PayloadCompressed,
                move |body, limit, storage, extra| {
                    histograms::store_v2(body, limit, storage, extra, &written)
                },
            )
            .await?
        }
    };
    let histograms_written = histograms_written.load(Ordering::Relaxed);
    if ingested.exemplars_dropped > 0 {
        tracing::debug!(
            exemplars = ingested.exemplars_dropped,
            "remote write 2.0: dropped exemplars (not stored)"
        );
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if version == RemoteWriteVersion::V2 {
        let h = resp.headers_mut();
        h.insert(
            "X-Prometheus-Remote-Write-Samples-Written",
            HeaderValue::from(ingested.stats.samples - histograms_written),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Histograms-Written",
            HeaderValue::from(histograms_written),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Exemplars-Written",
            HeaderValue::from(0u64),
        );
    }
    Ok(resp)
}
