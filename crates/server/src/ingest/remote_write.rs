//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0.
//!
//! The message version comes from `Content-Type` (415 for anything else); success is
//! 204 and, for 2.0, the `X-Prometheus-Remote-Write-*-Written` headers report what was
//! actually stored, so a 2.0 sender learns that native histograms and exemplars (not
//! stored by Tidemark yet) were dropped.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tidemark_protocols::remote_write::{
    check_content_encoding, decode_v1, decode_v2, negotiate, RemoteWriteVersion,
};

use super::body::Encodings;
use super::{finish, ingest, Decoded};
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
    check_content_encoding(header_str(headers, header::CONTENT_ENCODING))?;
    let ingested = ingest(
        st,
        PROTOCOL,
        headers,
        params,
        body,
        Encodings::PayloadCompressed,
        move |bytes, limit| match version {
            RemoteWriteVersion::V1 => Ok(Decoded::from(decode_v1(bytes, limit)?)),
            RemoteWriteVersion::V2 => {
                let d = decode_v2(bytes, limit)?;
                let histograms_dropped = d.histogram_count();
                Ok(Decoded {
                    request: d.request,
                    histograms_dropped,
                    exemplars_dropped: d.exemplars,
                })
            }
        },
    )
    .await?;
    if ingested.histograms_dropped > 0 || ingested.exemplars_dropped > 0 {
        tracing::debug!(
            histograms = ingested.histograms_dropped,
            exemplars = ingested.exemplars_dropped,
            "remote write 2.0: dropped native histograms and exemplars (not stored yet)"
        );
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if version == RemoteWriteVersion::V2 {
        let h = resp.headers_mut();
        h.insert(
            "X-Prometheus-Remote-Write-Samples-Written",
            HeaderValue::from(ingested.stats.samples),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Histograms-Written",
            HeaderValue::from(0u64),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Exemplars-Written",
            HeaderValue::from(0u64),
        );
    }
    Ok(resp)
}
