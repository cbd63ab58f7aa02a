//! Ingestion endpoints. Every protocol goes through [`ingest`]: read the body under the
//! compressed-size limit, then on the blocking pool decompress under the decompressed
//! limit, decode, add `extra_label`s and append to storage, all while holding one of
//! the bounded ingestion slots. Failures are counted by protocol and reason.

pub mod body;
pub mod export;
pub mod formats;
pub mod histograms;
pub mod remote_write;

use axum::body::Body;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tidemark_model::{MetricMetadata, Tenant};
use tidemark_protocols::{apply_extra_labels, DecodeError, WriteRequest};
use tidemark_storage::{AppendStats, Storage};

use crate::api::params::Params;
use crate::api::response::ApiError;
use crate::state::SharedState;
use body::{decompress, read_body, Encodings};

/// What a decoder produced, including what Tidemark received but does not store.
#[derive(Debug, Default)]
pub struct Decoded {
    pub request: WriteRequest,
    pub histograms_dropped: usize,
    pub exemplars_dropped: usize,
}

impl From<WriteRequest> for Decoded {
    fn from(request: WriteRequest) -> Decoded {
        Decoded {
            request,
            histograms_dropped: 0,
            exemplars_dropped: 0,
        }
    }
}

/// The result of a stored batch, for protocol-specific success responses.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub stats: AppendStats,
    pub histograms_dropped: usize,
    pub exemplars_dropped: usize,
}

/// `extra_label=name=value` parameters (VictoriaMetrics style), in order.
pub fn extra_labels(params: &Params) -> Result<Vec<(String, String)>, ApiError> {
    params
        .all("extra_label")
        .into_iter()
        .map(|raw| match raw.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => Err(ApiError::bad_data(format!(
                "invalid extra_label {raw:?}: want name=value"
            ))),
        })
        .collect()
}

/// What the protocol-specific step of [`ingest_with`] stored.
pub struct Stored {
    pub ingested: Ingested,
    /// Metric metadata that came with the batch, for the metadata store.
    pub metadata: Vec<MetricMetadata>,
}

/// Runs the common ingestion pipeline with `decode` as the protocol-specific step:
/// the decoded series get the `extra_label`s and are appended as owned series.
pub async fn ingest<D>(
    st: &SharedState,
    protocol: &'static str,
    headers: &HeaderMap,
    params: &Params,
    body: Body,
    encodings: Encodings,
    decode: D,
) -> Result<Ingested, ApiError>
where
    D: FnOnce(&[u8], usize) -> Result<Decoded, DecodeError> + Send + 'static,
{
    let store = move |plain: Bytes, limit: usize, storage: &Storage, extra: &[(String, String)]| {
        let mut decoded = decode(&plain, limit)?;
        drop(plain);
        apply_extra_labels(&mut decoded.request.series, extra);
        let stats = if decoded.request.series.is_empty() {
            AppendStats::default()
        } else {
            storage.append(Tenant::DEFAULT, &decoded.request.series)?
        };
        Ok(Stored {
            ingested: Ingested {
                stats,
                histograms_dropped: decoded.histograms_dropped,
                exemplars_dropped: decoded.exemplars_dropped,
            },
            metadata: decoded.request.metadata,
        })
    };
    ingest_with(st, protocol, headers, params, body, encodings, store).await
}

/// The common ingestion pipeline with `store` as the protocol-specific step, run on
/// the blocking pool: it gets the decompressed body, the decompressed-size limit, the
/// storage and the `extra_label`s, and decodes, labels and appends as it sees fit
/// (remote write 1.0 appends labels borrowed from the body, without copying them).
pub async fn ingest_with<S>(
    st: &SharedState,
    protocol: &'static str,
    headers: &HeaderMap,
    params: &Params,
    body: Body,
    encodings: Encodings,
    store: S,
) -> Result<Ingested, ApiError>
where
    S: FnOnce(Bytes, usize, &Storage, &[(String, String)]) -> Result<Stored, ApiError>
        + Send
        + 'static,
{
    let extra = extra_labels(params)?;
    let storage = st.storage()?;
    let mut admission = st.admission.admit(declared_body_len(headers)).await?;
    let limits = st.config.ingest.clone();
    let raw = read_body(headers, body, limits.max_request_body_bytes).await?;
    let encoding = body::content_encoding(headers, encodings)?;
    st.metrics.inserts_in_flight().inc();
    let task_state = st.clone();
    let result = tokio::task::spawn_blocking(move || {
        let plain = decompress(encoding, raw, limits.max_decompressed_body_bytes)?;
        admission.reserve_decoded(plain.len())?;
        let stored = store(plain, limits.max_decompressed_body_bytes, &storage, &extra)?;
        task_state.metadata.record(&stored.metadata);
        Ok::<_, ApiError>(stored.ingested)
    })
    .await;
    st.metrics.inserts_in_flight().dec();
    let ingested =
        result.map_err(|e| ApiError::internal(format!("ingestion task failed: {e}")))??;
    st.metrics
        .ingested(protocol, ingested.stats.samples, ingested.stats.rejected);
    Ok(ingested)
}

/// The body size the client declared; 0 when unknown (the body reader still enforces
/// the size limit while reading).
fn declared_body_len(headers: &HeaderMap) -> usize {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
}

/// Turns a handler result into a response, counting a rejection on error.
pub fn finish(
    st: &SharedState,
    handler: &'static str,
    result: Result<Response, ApiError>,
) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => {
            st.metrics.rejected(handler, e.reason());
            if e.status.is_server_error() {
                tracing::warn!(handler, status = e.status.as_u16(), error = %e.message, "ingestion failed");
            } else {
                tracing::debug!(handler, status = e.status.as_u16(), error = %e.message, "ingestion rejected");
            }
            e.into_response()
        }
    }
}
