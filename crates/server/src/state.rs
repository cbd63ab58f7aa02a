//! State shared by every request handler.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tidemark_storage::Storage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::admission::IngestAdmission;
use crate::api::recent_costs::RecentCosts;
use crate::api::response::ApiError;
use crate::config::ServerConfig;
use crate::engine::QueryEngine;
use crate::metadata_store::MetadataStore;
use crate::metrics::Metrics;

/// Where the server is in its life; readiness answers from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Storage is still opening (WAL replay can take a while).
    Starting = 0,
    Ready = 1,
    /// SIGTERM/SIGINT received: readiness is 503 while in-flight work drains.
    ShuttingDown = 2,
}

pub struct AppState {
    pub config: ServerConfig,
    pub metrics: Metrics,
    pub metadata: MetadataStore,
    pub engine: QueryEngine,
    /// Last evaluation time of recent queries, to run cheap ones inline.
    pub recent_costs: RecentCosts,
    pub started_at: SystemTime,
    storage: OnceLock<Arc<Storage>>,
    phase: AtomicU8,
    query_slots: Arc<Semaphore>,
    /// Bounds ingestion concurrency and in-flight request bytes.
    pub admission: IngestAdmission,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(config: ServerConfig) -> AppState {
        let metadata = MetadataStore::load(&config.storage_path);
        let engine = QueryEngine::new(&config.query);
        let query_slots = Arc::new(Semaphore::new(config.query.max_concurrent.max(1)));
        let admission = IngestAdmission::new(&config.ingest);
        AppState {
            config,
            metrics: Metrics::new(),
            metadata,
            engine,
            recent_costs: RecentCosts::default(),
            started_at: SystemTime::now(),
            storage: OnceLock::new(),
            phase: AtomicU8::new(Phase::Starting as u8),
            query_slots,
            admission,
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::ShuttingDown,
        }
    }

    /// Installs the opened storage and flips readiness to 200 (unless shutdown began).
    pub fn set_storage(&self, storage: Arc<Storage>) {
        let _ = self.storage.set(storage);
        let _ = self.phase.compare_exchange(
            Phase::Starting as u8,
            Phase::Ready as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub fn begin_shutdown(&self) {
        self.phase
            .store(Phase::ShuttingDown as u8, Ordering::Release);
    }

    /// The storage, or 503 while it is still opening.
    pub fn storage(&self) -> Result<Arc<Storage>, ApiError> {
        self.storage
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("storage is still opening; retry shortly"))
    }

    pub fn storage_if_open(&self) -> Option<Arc<Storage>> {
        self.storage.get().cloned()
    }

    /// Waits (bounded) for a query slot; 503 when the queue wait runs out.
    pub async fn acquire_query_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let wait = self.config.query.max_queue_duration;
        acquire(&self.query_slots, wait, || {
            format!(
                "too many concurrent queries: {} are running and no slot freed within {:?} (see --search.max-concurrent-queries)",
                self.config.query.max_concurrent, wait
            )
        })
        .await
    }
}

impl AppState {
    /// Waits until no ingestion is running, at most `wait`, so that storage is closed
    /// only after acknowledged writes are appended.
    pub async fn wait_for_inserts(&self, wait: std::time::Duration) {
        if !self.admission.drain(wait).await {
            tracing::warn!("ingestion still running at the shutdown deadline");
        }
    }
}

async fn acquire(
    sem: &Arc<Semaphore>,
    wait: std::time::Duration,
    busy_message: impl FnOnce() -> String,
) -> Result<OwnedSemaphorePermit, ApiError> {
    // A free slot (the usual case) is taken without arming a timer.
    match sem.clone().try_acquire_owned() {
        Ok(permit) => return Ok(permit),
        Err(TryAcquireError::Closed) => {
            return Err(ApiError::unavailable("server is shutting down"))
        }
        Err(TryAcquireError::NoPermits) => {}
    }
    match tokio::time::timeout(wait, sem.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(ApiError::unavailable("server is shutting down")),
        Err(_) => Err(ApiError::unavailable(busy_message())),
    }
}
