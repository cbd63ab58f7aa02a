//! Text-based ingestion endpoints: Prometheus text / OpenMetrics import, VictoriaMetrics
//! JSON lines import, InfluxDB line protocol and OpenTSDB `/api/put`. They accept
//! gzip, deflate and zstd bodies and answer 204 on success, like VictoriaMetrics.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tidemark_protocols::influx::{self, Precision};
use tidemark_protocols::text::{self, Flavor};
use tidemark_protocols::{jsonline, opentsdb, DecodeError, WriteRequest};

use super::body::Encodings;
use super::{finish, ingest, Decoded};
use crate::api::params::{parse_time, Params};
use crate::api::query::now_ms;
use crate::api::response::ApiError;
use crate::state::SharedState;

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn series_only(series: Vec<tidemark_model::TimeSeries>) -> Decoded {
    Decoded::from(WriteRequest {
        series,
        metadata: Vec::new(),
    })
}

/// Timestamp for samples that carry none: the `timestamp` parameter (VictoriaMetrics
/// style, Unix seconds or RFC 3339) or now.
fn default_timestamp(params: &Params) -> Result<i64, ApiError> {
    match params.get("timestamp") {
        None => Ok(now_ms()),
        Some(s) => parse_time(s)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timestamp\": {e}"))),
    }
}

/// `POST /api/v1/import/prometheus`: text exposition 0.0.4 or OpenMetrics (from the
/// `Content-Type`, else detected by a trailing `# EOF`). `# TYPE/HELP/UNIT` lines are
/// kept as metric metadata.
pub async fn import_prometheus(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let result = async {
        let ts = default_timestamp(&params)?;
        let flavor = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Flavor::from_content_type);
        ingest(
            &st,
            "prometheus_text",
            &headers,
            &params,
            body,
            Encodings::Http,
            move |bytes, _| {
                let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
                    offset: e.valid_up_to(),
                })?;
                let flavor = match flavor {
                    Some(Flavor::OpenMetrics) => Flavor::OpenMetrics,
                    _ => Flavor::detect(text),
                };
                Ok(Decoded::from(text::parse_flavor(text, flavor, ts)?))
            },
        )
        .await?;
        Ok(no_content())
    }
    .await;
    finish(&st, "prometheus_text", result)
}

/// `POST /api/v1/import`: VictoriaMetrics JSON lines.
pub async fn import_jsonl(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let result = async {
        ingest(
            &st,
            "jsonline",
            &headers,
            &params,
            body,
            Encodings::Http,
            |bytes, _| Ok(series_only(jsonline::parse(bytes)?)),
        )
        .await?;
        Ok(no_content())
    }
    .await;
    finish(&st, "jsonline", result)
}

/// Label VictoriaMetrics stores the Influx `db` parameter in.
const INFLUX_DB_LABEL: &str = "db";

/// `POST /write` (InfluxDB 1.x) and `POST /api/v2/write` (2.x). `precision` sets the
/// timestamp unit; `db` (1.x) or `bucket` (2.x) becomes a `db` label unless the line
/// already has one, as in VictoriaMetrics.
pub async fn influx_write(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let result = async {
        let precision = match params.get("precision") {
            None => Precision::default(),
            Some(p) => Precision::parse(p).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"precision\": {p:?}; want ns, u, ms, s, m or h"
                ))
            })?,
        };
        let db = params
            .get("db")
            .or_else(|| params.get("bucket"))
            .map(str::to_string);
        let ts = now_ms();
        ingest(
            &st,
            "influx",
            &headers,
            &params,
            body,
            Encodings::Http,
            move |bytes, _| {
                let mut series = influx::parse(bytes, precision, ts)?;
                if let Some(db) = &db {
                    for s in &mut series {
                        if s.labels.get(INFLUX_DB_LABEL).is_none() {
                            s.labels = s.labels.builder().set(INFLUX_DB_LABEL, db).build();
                        }
                    }
                }
                Ok(series_only(series))
            },
        )
        .await?;
        Ok(no_content())
    }
    .await;
    finish(&st, "influx", result)
}

/// `POST /api/put`: OpenTSDB HTTP JSON (one data point or an array).
pub async fn opentsdb_put(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let result = async {
        let ts = now_ms();
        ingest(
            &st,
            "opentsdb_http",
            &headers,
            &params,
            body,
            Encodings::Http,
            move |bytes, _| Ok(series_only(opentsdb::parse_http(bytes, ts)?)),
        )
        .await?;
        Ok(no_content())
    }
    .await;
    finish(&st, "opentsdb_http", result)
}
