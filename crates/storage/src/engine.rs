//! The engine: owns every component and implements the write path, flush and open.
//! Reads live in [`crate::query`], background work in [`crate::background`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tidemark_model::{Labels, Sample, Tenant};

use crate::background::Background;
use crate::block_cache::{self, BlockCache};
use crate::buffer::{Buffer, FrozenBuffer};
use crate::fsutil::{self, io_err, DirLock};
use crate::histograms::{FrozenHistograms, HistogramStore};
use crate::index::{CompactPolicy, SeriesIndex};
use crate::metrics::{Metrics, RejectReason};
use crate::part::PartWriter;
use crate::partition::Partitions;
use crate::series::{self, SeriesId, SeriesRegistry};
use crate::time::{self, Day};
use crate::tombstones::Tombstones;
use crate::wal::{SeriesEntry, Wal, WalRecord};
use crate::SeriesRef;
use crate::{
    AppendStats, FsyncPolicy, StorageError, StorageOptions, FORMAT_VERSION,
    MIN_READABLE_FORMAT_VERSION,
};

const FORMAT_FILE: &str = "FORMAT";

/// A frozen buffer waiting to become parts, with the last WAL segment it covers.
pub(crate) struct PendingFlush {
    pub data: FrozenBuffer,
    pub histograms: FrozenHistograms,
    pub sealed_segment: u64,
}

pub(crate) struct Engine {
    pub opts: StorageOptions,
    pub root: PathBuf,
    _lock: DirLock,
    pub registry: SeriesRegistry,
    pub index: SeriesIndex,
    pub wal: Wal,
    pub buffer: Buffer,
    /// Buffers being (or failed to be) written to parts; still served to readers.
    pub pending: RwLock<Vec<Arc<PendingFlush>>>,
    pub partitions: Partitions,
    /// Deleted time ranges of series, applied when reading and merging.
    pub tombstones: Tombstones,
    /// Appends hold it shared; a flush holds it exclusively for the instant it seals
    /// the WAL segment and swaps the buffer, so both cut at the same record.
    pub(crate) ingest_gate: RwLock<()>,
    flush_lock: Mutex<()>,
    /// Serialises merges, retention and snapshots (which must not see parts vanish).
    pub maintenance_lock: Mutex<()>,
    next_part_seq: AtomicU64,
    pub metrics: Metrics,
    /// Decoded part blocks, sized from [`StorageOptions::memory_budget_bytes`].
    pub block_cache: BlockCache,
    closed: AtomicBool,
    pub(crate) background: Mutex<Option<Background>>,
    /// Native histogram buffer and the set of series holding histograms.
    pub histograms: HistogramStore,
}

impl Engine {
    pub(crate) fn open(opts: StorageOptions) -> Result<Arc<Engine>, StorageError> {
        if opts.flush_interval.is_zero() {
            return Err(StorageError::Invalid(
                "flush_interval must be positive".into(),
            ));
        }
        let root = opts.path.clone();
        fsutil::create_dir_all(&root)?;
        let lock = DirLock::acquire(&root)?;
        check_format_file(&root)?;
        let index_dir = root.join("index");
        fsutil::create_dir_all(&index_dir)?;
        fsutil::create_dir_all(&root.join("snapshots"))?;

        let open_started = std::time::Instant::now();
        let metrics = Metrics::default();
        let tombstones = Tombstones::open(&index_dir)?;
        let (registry, reg_report) = SeriesRegistry::open_with_cache(
            &index_dir,
            series::info_cache_capacity_for_budget(opts.memory_budget_bytes),
        )?;
        if reg_report.corrupt {
            metrics.corruptions.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                dropped_bytes = reg_report.truncated_bytes,
                "series registry had a corrupt record; tail dropped"
            );
        }
        let (partitions, part_report) =
            Partitions::open(&root.join("data"), &root.join("quarantine"))?;
        let quarantined = part_report.quarantined.len() as u64;
        metrics
            .corruptions
            .fetch_add(quarantined, Ordering::Relaxed);
        metrics
            .quarantined_parts
            .fetch_add(quarantined, Ordering::Relaxed);
        registry.reserve_ids_through(part_report.max_series_id);
        let parts_opened = open_started.elapsed();

        let index = SeriesIndex::open(&index_dir, &partitions.all(), &registry)?;
        let index_report = index.open_report();
        registry.reserve_ids_through(index_report.max_series_id);
        metrics
            .corruptions
            .fetch_add(index_report.corrupt_files, Ordering::Relaxed);
        let histograms = HistogramStore::open_parts(&partitions, &registry, &index);
        let index_built = open_started.elapsed();

        let buffer = Buffer::new();
        let cutoff = retention_cutoff(&opts);
        let fsync_on_rotate = opts.fsync != FsyncPolicy::Never;
        let (wal, replay) = Wal::open(&root.join("wal"), fsync_on_rotate, |rec| match rec {
            WalRecord::Histograms { tenant, series } => {
                Engine::replay_histograms(&registry, &index, &histograms, cutoff, tenant, series)
            }
            rec => {
                histograms.forget_deleted(&registry, &rec);
                replay_record(&registry, &index, &buffer, cutoff, rec)
            }
        })?;
        metrics
            .corruptions
            .fetch_add(replay.corrupt_records, Ordering::Relaxed);
        metrics
            .wal_replayed_records
            .fetch_add(replay.records, Ordering::Relaxed);
        tracing::info!(
            path = %root.display(),
            wal_segments = replay.segments,
            wal_records = replay.records,
            series = registry.live_count(),
            registry_and_parts_ms = parts_opened.as_millis() as u64,
            index_ms = (index_built - parts_opened).as_millis() as u64,
            index_days_loaded = index_report.days_loaded,
            index_days_rebuilt = index_report.days_rebuilt,
            index_series_added = index_report.series_added,
            wal_replay_ms = (open_started.elapsed() - index_built).as_millis() as u64,
            "storage opened"
        );

        let block_cache =
            BlockCache::new(block_cache::capacity_for_budget(opts.memory_budget_bytes));
        let engine = Arc::new(Engine {
            opts,
            root,
            _lock: lock,
            registry,
            index,
            wal,
            buffer,
            pending: RwLock::new(Vec::new()),
            partitions,
            tombstones,
            ingest_gate: RwLock::new(()),
            flush_lock: Mutex::new(()),
            maintenance_lock: Mutex::new(()),
            next_part_seq: AtomicU64::new(part_report.max_part_seq + 1),
            metrics,
            block_cache,
            closed: AtomicBool::new(false),
            background: Mutex::new(None),
            histograms,
        });
        // Expired partitions go before anything is served.
        engine.enforce_retention()?;
        *engine.background.lock() = Some(Background::start(&engine));
        Ok(engine)
    }

    pub(crate) fn check_open(&self) -> Result<(), StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        Ok(())
    }

    pub(crate) fn next_part_seq(&self) -> u64 {
        self.next_part_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The write path for every append (owned batches are converted to borrowed form
    /// first): per batch, one registry lookup pass, one WAL record, one index check
    /// and one lock per buffer shard.
    pub(crate) fn append(
        &self,
        tenant: Tenant,
        batch: &[SeriesRef<'_>],
    ) -> Result<AppendStats, StorageError> {
        self.check_open()?;
        if let Some(bad) = batch.iter().find(|s| !in_labels_form(s.labels)) {
            return Err(StorageError::Invalid(format!(
                "label pairs must be sorted by unique, non-empty names and have non-empty values: {:?}",
                bad.labels
            )));
        }
        let cutoff = retention_cutoff(&self.opts);
        let mut stats = AppendStats::default();
        let mut labels: Vec<&[(&str, &str)]> = Vec::with_capacity(batch.len());
        let mut samples: Vec<Cow<'_, [Sample]>> = Vec::with_capacity(batch.len());
        for ts in batch {
            if ts.samples.is_empty() {
                continue;
            }
            if ts.labels.is_empty() {
                stats.rejected += ts.samples.len() as u64;
                self.metrics
                    .reject(RejectReason::EmptyLabels, ts.samples.len() as u64);
                continue;
            }
            let kept: Cow<'_, [Sample]> = if ts.samples.iter().all(|s| s.timestamp >= cutoff) {
                Cow::Borrowed(ts.samples)
            } else {
                let kept: Vec<Sample> = ts
                    .samples
                    .iter()
                    .copied()
                    .filter(|s| s.timestamp >= cutoff)
                    .collect();
                let dropped = (ts.samples.len() - kept.len()) as u64;
                stats.rejected += dropped;
                self.metrics.reject(RejectReason::TooOld, dropped);
                Cow::Owned(kept)
            };
            if !kept.is_empty() {
                labels.push(ts.labels);
                samples.push(kept);
            }
        }
        if labels.is_empty() {
            return Ok(stats);
        }
        let clock = {
            let _gate = self.ingest_gate.read();
            let ids = self.registry.get_or_create_pairs(tenant, &labels)?;
            let entries: Vec<SeriesEntry<'_>> = ids
                .iter()
                .zip(&labels)
                .zip(&samples)
                .map(|((&id, &l), s)| (id, l, s.as_ref()))
                .collect();
            let clock = self.wal.append_samples(tenant, &entries)?;
            self.index_new_days(tenant, &entries);
            let buffered: Vec<(SeriesId, &[Sample])> =
                entries.iter().map(|&(id, _, s)| (id, s)).collect();
            self.buffer.add_batch(&buffered);
            clock
        };
        if self.opts.fsync == FsyncPolicy::EveryBatch {
            self.wal.sync_through(clock)?;
        }
        stats.series = labels.len() as u64;
        stats.samples = samples.iter().map(|s| s.len() as u64).sum();
        self.metrics
            .rows_ingested
            .fetch_add(stats.samples, Ordering::Relaxed);
        if self.buffer.bytes() > self.opts.memory_budget_bytes / 4 {
            if let Some(bg) = self.background.lock().as_ref() {
                bg.request_flush();
            }
        }
        Ok(stats)
    }

    /// Adds series to the index for the days of their samples that it does not list
    /// them for yet; labels are fetched from the registry only for those few.
    fn index_new_days(&self, tenant: Tenant, entries: &[SeriesEntry<'_>]) {
        let mut days: Vec<(Day, SeriesId)> = Vec::with_capacity(entries.len());
        for &(id, _, samples) in entries {
            let mut last_day = None;
            for s in samples {
                let day = time::day_of(s.timestamp);
                if last_day != Some(day) {
                    days.push((day, id));
                    last_day = Some(day);
                }
            }
        }
        self.index.retain_missing(tenant, &mut days);
        for (day, id) in days {
            if let Some(info) = self.registry.info_uncached(id) {
                self.index.add(tenant, day, id, &info.labels);
            }
        }
    }

    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        self.check_open()?;
        self.flush_inner()
    }

    /// Seals the WAL, freezes the buffer and writes every pending buffer to parts.
    pub(crate) fn flush_inner(&self) -> Result<(), StorageError> {
        let _flushing = self.flush_lock.lock();
        {
            let _gate = self.ingest_gate.write();
            if self.buffer.bytes() > 0 || !self.wal.current_segment_is_empty() {
                let sealed_segment = self.wal.seal()?;
                let data = self.buffer.take();
                self.pending.write().push(Arc::new(PendingFlush {
                    data,
                    histograms: self.histograms.buffer.take(),
                    sealed_segment,
                }));
            }
        }
        let pending: Vec<Arc<PendingFlush>> = self.pending.read().clone();
        for p in pending {
            if let Err(e) = self.write_pending(&p) {
                self.metrics.flush_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            self.wal.checkpoint(p.sealed_segment)?;
            self.pending.write().retain(|x| !Arc::ptr_eq(x, &p));
            self.metrics.flushes.fetch_add(1, Ordering::Relaxed);
        }
        self.compact_index(CompactPolicy::Grown);
        Ok(())
    }

    /// Folds recently indexed series into the compact frozen form and persists the
    /// days `policy` picks. A failure only costs the next open a rebuild of those
    /// days from labels, so it is logged rather than failing the caller.
    fn compact_index(&self, policy: CompactPolicy) {
        let started = std::time::Instant::now();
        match self.index.compact(policy) {
            Ok(0) => {}
            Ok(days) => tracing::debug!(
                days,
                ms = started.elapsed().as_millis() as u64,
                "index days compacted"
            ),
            Err(e) => tracing::warn!(error = %e, "could not persist the index postings"),
        }
    }

    fn write_pending(&self, p: &PendingFlush) -> Result<(), StorageError> {
        // Parts may only name ids the registry has made durable.
        self.registry.sync()?;
        self.write_level0_parts(
            p.data.series.iter().map(|(id, s)| (*id, s.as_slice())),
            |s: &Sample| s.timestamp,
            PartWriter::add_series,
        )?;
        self.write_histogram_parts(&p.histograms)
    }

    /// Writes buffered samples as level-0 parts, one per day they touch: each live
    /// series' samples at or after the retention cutoff, in series-id order. `add`
    /// appends one series' run of one day to a part (floats and histograms differ
    /// only there).
    pub(crate) fn write_level0_parts<'a, S: 'a>(
        &self,
        series: impl Iterator<Item = (SeriesId, &'a [S])>,
        timestamp: impl Fn(&S) -> i64,
        add: impl Fn(&mut PartWriter, SeriesId, &[S]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let cutoff = retention_cutoff(&self.opts);
        let mut live: Vec<(SeriesId, &[S])> = series
            .filter(|(id, _)| !self.registry.is_deleted(*id))
            .collect();
        live.sort_unstable_by_key(|(id, _)| *id);
        let mut by_day: std::collections::BTreeMap<Day, Vec<(SeriesId, &[S])>> = Default::default();
        for (id, samples) in live {
            let start = samples.partition_point(|s| timestamp(s) < cutoff);
            let mut rest = &samples[start..];
            while let Some(first) = rest.first() {
                let day = time::day_of(timestamp(first));
                let n = rest.partition_point(|s| time::day_of(timestamp(s)) == day);
                by_day.entry(day).or_default().push((id, &rest[..n]));
                rest = &rest[n..];
            }
        }
        for (day, series) in by_day {
            let mut writer = PartWriter::create(
                &self.partitions.partition_dir(day),
                self.next_part_seq(),
                0,
                day,
            )?;
            for (id, samples) in series {
                if let Err(e) = add(&mut writer, id, samples) {
                    writer.discard();
                    return Err(e);
                }
            }
            if let Some(part) = writer.finish(Vec::new())? {
                self.partitions.add(day, part);
            }
        }
        Ok(())
    }

    pub(crate) fn delete_series(
        &self,
        tenant: Tenant,
        matchers: &[tidemark_model::Matcher],
    ) -> Result<u64, StorageError> {
        self.check_open()?;
        if matchers.is_empty() {
            return Err(StorageError::Invalid(
                "delete_series needs at least one matcher".into(),
            ));
        }
        // Exclusive, so no append can slip a sample for these series between the
        // WAL record and the registry change.
        let _gate = self.ingest_gate.write();
        let ids = self.index.select(tenant, Day::MIN..=Day::MAX, matchers);
        let infos: Vec<(SeriesId, Labels)> = ids
            .iter()
            .filter_map(|&id| {
                self.registry
                    .info(id)
                    .map(|i| (id, Labels::clone(&i.labels)))
            })
            .collect();
        if infos.is_empty() {
            return Ok(0);
        }
        let labels: Vec<Labels> = infos.iter().map(|(_, l)| l.clone()).collect();
        let clock = self.wal.append_delete(tenant, &labels)?;
        if self.opts.fsync != FsyncPolicy::Never {
            self.wal.sync_through(clock)?;
        }
        let ids: Vec<SeriesId> = infos.iter().map(|(id, _)| *id).collect();
        self.registry.delete(&ids)?;
        self.index.remove_series(&ids);
        for &id in &ids {
            self.buffer.remove_series(id);
            self.histograms.buffer.remove_series(id);
        }
        self.metrics
            .series_deleted
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(ids.len() as u64)
    }

    pub(crate) fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Release the mutex before joining, so appends asking for a flush never wait on it.
        let background = self.background.lock().take();
        if let Some(bg) = background {
            bg.stop();
        }
        self.flush_inner()?;
        self.compact_index(CompactPolicy::Changed);
        self.wal.sync_all()?;
        self.registry.sync()
    }

    /// Takes a part out of service after a read found it corrupt.
    pub(crate) fn quarantine_from_error(&self, err: &StorageError) {
        let StorageError::Corrupt { file, .. } = err else {
            return;
        };
        let Some(part_dir) = file.parent() else {
            return;
        };
        self.metrics.corruptions.fetch_add(1, Ordering::Relaxed);
        match self.partitions.quarantine(part_dir) {
            Ok(true) => {
                self.metrics
                    .quarantined_parts
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(part = %part_dir.display(), error = %err, "corrupt part quarantined");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(part = %part_dir.display(), error = %e, "could not quarantine corrupt part")
            }
        }
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.root
    }
}

/// Whether label pairs satisfy the [`Labels`] invariants (sorted by unique, non-empty
/// names; non-empty values), which series lookup relies on: the same label set must
/// always produce the same key.
fn in_labels_form(pairs: &[(&str, &str)]) -> bool {
    pairs.iter().all(|(n, v)| !n.is_empty() && !v.is_empty())
        && pairs.windows(2).all(|w| w[0].0 < w[1].0)
}

/// Oldest timestamp still inside retention.
pub(crate) fn retention_cutoff(opts: &StorageOptions) -> i64 {
    let ms = i64::try_from(opts.retention.as_millis()).unwrap_or(i64::MAX);
    time::now_ms().saturating_sub(ms)
}

fn insert_samples(
    index: &SeriesIndex,
    buffer: &Buffer,
    tenant: Tenant,
    id: SeriesId,
    labels: &Labels,
    samples: &[Sample],
) {
    let mut last_day = None;
    for s in samples {
        let day = time::day_of(s.timestamp);
        if last_day != Some(day) {
            index.add(tenant, day, id, labels);
            last_day = Some(day);
        }
    }
    buffer.add(id, samples);
}

fn replay_record(
    registry: &SeriesRegistry,
    index: &SeriesIndex,
    buffer: &Buffer,
    cutoff: i64,
    rec: WalRecord,
) -> Result<(), StorageError> {
    match rec {
        WalRecord::Samples { tenant, series } => {
            for (labels, mut samples) in series {
                samples.retain(|s| s.timestamp >= cutoff);
                if labels.is_empty() || samples.is_empty() {
                    continue;
                }
                let id = registry.get_or_create(tenant, &labels)?;
                insert_samples(index, buffer, tenant, id, &labels, &samples);
            }
        }
        // Open hands histogram records to `Engine::replay_histograms` instead.
        WalRecord::Histograms { .. } => {}
        WalRecord::Delete { tenant, series } => {
            let ids: Vec<SeriesId> = series
                .iter()
                .filter_map(|l| registry.lookup(tenant, l))
                .collect();
            if !ids.is_empty() {
                registry.delete(&ids)?;
                index.remove_series(&ids);
                for &id in &ids {
                    buffer.remove_series(id);
                }
            }
        }
    }
    Ok(())
}

/// Creates `<root>/FORMAT`, or checks that the existing one names a version this build
/// reads and upgrades it to ours (see [`crate::MIN_READABLE_FORMAT_VERSION`]).
fn check_format_file(root: &Path) -> Result<(), StorageError> {
    let path = root.join(FORMAT_FILE);
    let expected = format!("tidemark-storage {FORMAT_VERSION}\n");
    match std::fs::read_to_string(&path) {
        Ok(s) if s == expected => Ok(()),
        Ok(s) => {
            let version = s
                .strip_prefix("tidemark-storage ")
                .and_then(|v| v.trim().parse::<u32>().ok());
            match version {
                Some(v) if (MIN_READABLE_FORMAT_VERSION..FORMAT_VERSION).contains(&v) => {
                    tracing::info!(from = v, to = FORMAT_VERSION, "upgrading storage format");
                    write_format_file(root, &expected)
                }
                Some(v) => Err(StorageError::Invalid(format!(
                    "{}: unsupported format version {v}, expected {MIN_READABLE_FORMAT_VERSION} to {FORMAT_VERSION}",
                    path.display()
                ))),
                None => Err(StorageError::Invalid(format!(
                    "{}: unrecognised format file {:?} (expected {:?})",
                    path.display(),
                    s.trim(),
                    expected.trim()
                ))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_format_file(root, &expected),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Replaces `<root>/FORMAT` atomically.
fn write_format_file(root: &Path, contents: &str) -> Result<(), StorageError> {
    let path = root.join(FORMAT_FILE);
    let tmp = root.join("FORMAT.tmp");
    std::fs::write(&tmp, contents).map_err(io_err(&tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    fsutil::sync_dir(root)
}
