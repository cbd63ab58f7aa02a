//! Prometheus-compatible HTTP API handlers.

pub mod admin;
mod compute;
mod go_float;
pub mod params;
pub mod promjson;
pub mod query;
pub(crate) mod recent_costs;
pub mod response;
pub mod series;
pub mod status;

use std::sync::Arc;

use tidemark_storage::{Storage, StorageError};

use crate::state::SharedState;
use response::ApiError;

/// Runs a storage call on the blocking pool (index lookups and snapshots touch disk).
pub(crate) async fn with_storage<T, F>(st: &SharedState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Storage>) -> Result<T, StorageError> + Send + 'static,
{
    let storage = st.storage()?;
    tokio::task::spawn_blocking(move || f(storage))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
        .map_err(ApiError::from)
}
