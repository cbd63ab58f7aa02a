//! Tidemark's storage engine.
//!
//! CONTRACT STUB: the public API below is fixed so that the server can be built
//! against it; the storage work replaces every body. Keep these signatures (adding
//! methods or fields is fine).

pub mod encoding;

use std::path::PathBuf;
use std::time::Duration;

use tidemark_model::{Labels, Matcher, Tenant, TimeSeries};

/// When the WAL is fsynced. See docs/storage-format.md for what each protects against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before every append returns (group commit batches concurrent writers).
    EveryBatch,
    /// fsync in the background at this interval.
    Interval(Duration),
    /// never fsync; the OS decides.
    Never,
}

#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub path: PathBuf,
    /// Data older than this is dropped, a whole partition at a time.
    pub retention: Duration,
    /// `--dedup.min-scrape-interval`; zero disables deduplication.
    pub dedup_interval: Duration,
    pub fsync: FsyncPolicy,
    /// Budget for caches and the in-memory buffer.
    pub memory_budget_bytes: u64,
    /// Maximum series one select may return; 0 = unlimited.
    pub max_series_per_select: usize,
    /// How often the in-memory buffer becomes an immutable part.
    pub flush_interval: Duration,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            path: PathBuf::from("tidemark-data"),
            retention: Duration::from_secs(31 * 24 * 3600),
            dedup_interval: Duration::ZERO,
            fsync: FsyncPolicy::EveryBatch,
            memory_budget_bytes: 1 << 30,
            max_series_per_select: 0,
            flush_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    #[error("the query matches more than {limit} series; narrow the matchers or raise the series limit")]
    TooManySeries { limit: usize },
    #[error("storage is closed")]
    Closed,
    #[error("{0}")]
    Invalid(String),
}

/// What one append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    pub series: u64,
    pub samples: u64,
    /// Samples refused (outside retention, invalid); counted by reason in metrics.
    pub rejected: u64,
}

/// Cardinality statistics for `/api/v1/status/tsdb`. Lists are sorted by count, descending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsdbStatus {
    pub num_series: u64,
    pub series_count_by_metric_name: Vec<(String, u64)>,
    pub series_count_by_label_name: Vec<(String, u64)>,
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
    pub label_value_count_by_label_name: Vec<(String, u64)>,
}

/// The storage engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Storage {
    _opts: StorageOptions,
}

impl Storage {
    /// Opens (or creates) the data directory, replays the unflushed WAL tail, starts background work.
    pub fn open(opts: StorageOptions) -> Result<Storage, StorageError> {
        Ok(Storage { _opts: opts })
    }

    /// Appends a batch. Returns once the batch is durable per the fsync policy.
    pub fn append(&self, _tenant: Tenant, _series: &[TimeSeries]) -> Result<AppendStats, StorageError> {
        Err(StorageError::Closed)
    }

    /// Series matching all matchers with samples in `[start_ms, end_ms]`, samples sorted and deduplicated.
    pub fn select(&self, _tenant: Tenant, _matchers: &[Matcher], _start_ms: i64, _end_ms: i64) -> Result<Vec<TimeSeries>, StorageError> {
        Err(StorageError::Closed)
    }

    /// Label sets of series matching any of the matcher sets (union), sorted, at most `limit` (0 = no limit).
    pub fn series(&self, _tenant: Tenant, _matcher_sets: &[Vec<Matcher>], _start_ms: i64, _end_ms: i64, _limit: usize) -> Result<Vec<Labels>, StorageError> {
        Err(StorageError::Closed)
    }

    /// Sorted label names of matching series (all series when `matcher_sets` is empty).
    pub fn label_names(&self, _tenant: Tenant, _matcher_sets: &[Vec<Matcher>], _start_ms: i64, _end_ms: i64, _limit: usize) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Closed)
    }

    /// Sorted values of `name` over matching series.
    pub fn label_values(&self, _tenant: Tenant, _name: &str, _matcher_sets: &[Vec<Matcher>], _start_ms: i64, _end_ms: i64, _limit: usize) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Closed)
    }

    /// Deletes matching series (tombstones); returns how many series were deleted.
    pub fn delete_series(&self, _tenant: Tenant, _matchers: &[Matcher]) -> Result<u64, StorageError> {
        Err(StorageError::Closed)
    }

    /// Turns the in-memory buffer into parts now.
    pub fn flush(&self) -> Result<(), StorageError> {
        Err(StorageError::Closed)
    }

    /// Flushes, then merges parts as far as possible.
    pub fn force_merge(&self) -> Result<(), StorageError> {
        Err(StorageError::Closed)
    }

    /// Creates a consistent hard-link snapshot; returns its name.
    pub fn create_snapshot(&self) -> Result<String, StorageError> {
        Err(StorageError::Closed)
    }

    pub fn list_snapshots(&self) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Closed)
    }

    pub fn delete_snapshot(&self, _name: &str) -> Result<(), StorageError> {
        Err(StorageError::Closed)
    }

    pub fn tsdb_status(&self, _tenant: Tenant, _top_n: usize) -> Result<TsdbStatus, StorageError> {
        Err(StorageError::Closed)
    }

    /// Appends the engine's self-metrics in Prometheus text format (`tidemark_storage_*`).
    pub fn write_metrics(&self, _out: &mut String) {}

    /// Flushes everything and stops background work. Later calls fail with `Closed`.
    pub fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
