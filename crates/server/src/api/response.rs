//! Response envelopes of the Prometheus HTTP API: `{"status":"success","data":...}` and
//! `{"status":"error","errorType":...,"error":...}`. Ingestion endpoints use the same error
//! shape so every 4xx/5xx carries a machine-readable reason.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tidemark_protocols::DecodeError;
use tidemark_query::QueryError;
use tidemark_storage::StorageError;

/// An API failure: HTTP status, Prometheus `errorType` and a human-readable message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
    /// A finer reason for the rejection counter than the status gives (e.g. `bad_snappy`).
    pub detail_reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            error_type,
            message: message.into(),
            detail_reason: None,
        }
    }
    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_data", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_data", message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_data", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_reason(mut self, reason: &'static str) -> ApiError {
        self.detail_reason = Some(reason);
        self
    }

    /// Short word for the rejection counter.
    pub fn reason(&self) -> &'static str {
        if let Some(r) = self.detail_reason {
            return r;
        }
        match self.status {
            StatusCode::BAD_REQUEST => "bad_data",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "overloaded",
            StatusCode::UNPROCESSABLE_ENTITY => "execution",
            _ => "internal",
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.error_type(), e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::TooManySeries { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "execution", e.to_string())
            }
            StorageError::Invalid(_) => ApiError::bad_data(e.to_string()),
            StorageError::Closed => ApiError::unavailable(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> ApiError {
        let base = match &e {
            DecodeError::UnsupportedMediaType(_) => ApiError::unsupported_media_type(e.to_string()),
            DecodeError::TooLarge { .. } => ApiError::too_large(e.to_string()),
            _ => ApiError::bad_data(e.to_string()),
        };
        base.with_reason(e.reason())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.error_type, "error": self.message});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// `{"status":"success","data":<data>}` with optional annotations.
pub fn success(data: serde_json::Value, warnings: &[String], infos: &[String]) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    axum::Json(body).into_response()
}

/// A JSON body written by hand (query results need Prometheus' exact number formatting).
pub fn raw_json(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
