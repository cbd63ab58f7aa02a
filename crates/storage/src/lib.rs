//! Tidemark's storage engine.
//!
//! Writes go to a segmented, checksummed write-ahead log and an in-memory buffer;
//! the buffer is flushed into immutable, compressed, checksummed *parts* inside
//! per-day *partitions* that background merges compact. The on-disk format is
//! described in `docs/storage-format.md`.
//!
//! This file is the public facade; the engine lives in the private modules.

pub mod encoding;

mod background;
mod block_cache;
mod buffer;
mod engine;
mod fsutil;
mod histograms;
mod index;
mod merge;
mod metrics;
mod part;
mod partition;
mod query;
mod retention;
mod samples;
mod select_plan;
mod series;
mod snapshot;
mod status;
mod time;
mod tombstones;
mod wal;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use tidemark_model::{Labels, Matcher, Sample, Tenant, TimeSeries};

use crate::engine::Engine;
pub use crate::histograms::select::SeriesSamples;
pub use crate::histograms::HistogramSeries;
pub use crate::select_plan::{SelectBatches, SELECT_BATCH_SERIES};

/// The version written to `<data>/FORMAT` and to new parts; bumped on any
/// incompatible on-disk change.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format this build still opens. Version 2 differs only in lacking the
/// registry snapshot (`index/series.snap`), so a version 2 directory is a valid
/// version 3 one; its `FORMAT` file is upgraded at open (after which older builds
/// refuse it rather than ignore the snapshot).
pub const MIN_READABLE_FORMAT_VERSION: u32 = 2;

/// When the WAL is fsynced. See docs/storage-format.md for what each protects against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before every append returns (group commit batches concurrent writers).
    /// An acknowledged append survives a process crash and a power loss.
    EveryBatch,
    /// fsync in the background at this interval. An acknowledged append survives a
    /// process crash; a power loss may lose up to one interval of appends.
    Interval(Duration),
    /// never fsync the WAL; the OS decides. A process crash loses nothing that reached
    /// the OS; a power loss may lose everything since the last flush to a part.
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
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "the query matches more than {limit} series; narrow the matchers or raise the series limit"
    )]
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

/// One series of a [`Storage::append_borrowed`] batch. It borrows labels and samples
/// from the caller (typically a decoded request body), so appending to series that
/// already exist allocates nothing per series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    /// `(name, value)` pairs in the [`Labels`] form: sorted by name, names unique and
    /// non-empty, values non-empty. A batch breaking this is rejected whole.
    pub labels: &'a [(&'a str, &'a str)],
    pub samples: &'a [Sample],
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
    engine: std::sync::Arc<Engine>,
}

impl Storage {
    /// Opens (or creates) the data directory, replays the unflushed WAL tail, starts background work.
    pub fn open(opts: StorageOptions) -> Result<Storage, StorageError> {
        Ok(Storage {
            engine: Engine::open(opts)?,
        })
    }

    /// Appends a batch. Returns once the batch is durable per the fsync policy.
    ///
    /// Samples may arrive in any order. Two samples of one series with the same
    /// timestamp resolve to the greater value under IEEE-754 total order
    /// (`f64::total_cmp`), whatever order they were written in.
    pub fn append(
        &self,
        tenant: Tenant,
        series: &[TimeSeries],
    ) -> Result<AppendStats, StorageError> {
        let pairs: Vec<(&str, &str)> = series
            .iter()
            .flat_map(|ts| ts.labels.iter())
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        let mut start = 0;
        let refs: Vec<SeriesRef<'_>> = series
            .iter()
            .map(|ts| {
                let labels = &pairs[start..start + ts.labels.len()];
                start += ts.labels.len();
                SeriesRef {
                    labels,
                    samples: &ts.samples,
                }
            })
            .collect();
        self.engine.append(tenant, &refs)
    }

    /// [`Storage::append`] for series whose labels borrow from the caller; the
    /// ingestion hot path, which builds no [`Labels`] for series that already exist.
    pub fn append_borrowed(
        &self,
        tenant: Tenant,
        series: &[SeriesRef<'_>],
    ) -> Result<AppendStats, StorageError> {
        self.engine.append(tenant, series)
    }

    /// Series matching all matchers with samples in `[start_ms, end_ms]`, samples sorted and deduplicated.
    pub fn select(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, StorageError> {
        self.engine.select(tenant, matchers, start_ms, end_ms)
    }

    /// Appends native histogram samples, with the same validation, durability and
    /// same-timestamp determinism as [`Storage::append`] (the greatest histogram
    /// under a fixed total order wins; see docs/storage-format.md). A batch holding
    /// an inconsistent histogram (spans not matching buckets, bad schema) is refused
    /// whole with [`StorageError::Invalid`].
    pub fn append_histograms(
        &self,
        tenant: Tenant,
        series: &[HistogramSeries],
    ) -> Result<AppendStats, StorageError> {
        self.engine.append_histograms(tenant, series)
    }

    /// Like [`Storage::select`], returning native histogram samples too. Where one
    /// series has a float and a histogram at the same timestamp, the histogram wins.
    pub fn select_with_histograms(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, StorageError> {
        let floats = self
            .engine
            .select_floats(tenant, matchers, start_ms, end_ms)?;
        let histograms = self
            .engine
            .select_histograms(tenant, matchers, start_ms, end_ms)?;
        Ok(histograms::select::join(floats, histograms))
    }

    /// [`Storage::select_with_histograms`] in batches of series, in label order,
    /// whose samples are read when each batch is asked for (see [`SelectBatches`]).
    pub fn select_batches(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<SelectBatches<'_>, StorageError> {
        self.engine
            .select_batches(tenant, matchers, start_ms, end_ms)
    }

    /// Label sets of series matching any of the matcher sets (union), sorted, at most `limit` (0 = no limit).
    pub fn series(
        &self,
        tenant: Tenant,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, StorageError> {
        self.engine
            .series(tenant, matcher_sets, start_ms, end_ms, limit)
    }

    /// Sorted label names of matching series (all series when `matcher_sets` is empty).
    pub fn label_names(
        &self,
        tenant: Tenant,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.engine
            .label_names(tenant, matcher_sets, start_ms, end_ms, limit)
    }

    /// Sorted values of `name` over matching series.
    pub fn label_values(
        &self,
        tenant: Tenant,
        name: &str,
        matcher_sets: &[Vec<Matcher>],
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.engine
            .label_values(tenant, name, matcher_sets, start_ms, end_ms, limit)
    }

    /// Deletes matching series (tombstones); returns how many series were deleted.
    /// Later samples with the same labels start a new series.
    pub fn delete_series(&self, tenant: Tenant, matchers: &[Matcher]) -> Result<u64, StorageError> {
        self.engine.delete_series(tenant, matchers)
    }

    /// Deletes the samples in `[start_ms, end_ms]` of matching series (time-range
    /// tombstones, applied by selects and merges; the series themselves stay). Returns
    /// how many series had data on the days of that range.
    pub fn delete_range(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<u64, StorageError> {
        self.engine.delete_range(tenant, matchers, start_ms, end_ms)
    }

    /// Turns the in-memory buffer into parts now.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.engine.flush()
    }

    /// Flushes, then merges parts as far as possible.
    pub fn force_merge(&self) -> Result<(), StorageError> {
        self.engine.force_merge()
    }

    /// Creates a consistent hard-link snapshot; returns its name.
    pub fn create_snapshot(&self) -> Result<String, StorageError> {
        self.engine.create_snapshot()
    }

    pub fn list_snapshots(&self) -> Result<Vec<String>, StorageError> {
        self.engine.list_snapshots()
    }

    pub fn delete_snapshot(&self, name: &str) -> Result<(), StorageError> {
        self.engine.delete_snapshot(name)
    }

    pub fn tsdb_status(&self, tenant: Tenant, top_n: usize) -> Result<TsdbStatus, StorageError> {
        self.engine.tsdb_status(tenant, top_n)
    }

    /// Appends the engine's self-metrics in Prometheus text format (`tidemark_storage_*`).
    pub fn write_metrics(&self, out: &mut String) {
        self.engine.write_metrics(out)
    }

    /// Flushes everything and stops background work. Later calls fail with `Closed`.
    pub fn close(&self) -> Result<(), StorageError> {
        self.engine.close()
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Err(e) = self.engine.close() {
            if !matches!(e, StorageError::Closed) {
                tracing::error!(error = %e, "closing storage on drop failed");
            }
        }
    }
}
