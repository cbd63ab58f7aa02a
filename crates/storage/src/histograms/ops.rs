//! The engine's histogram operations: append, flush into parts, merge, select.
//! Each mirrors its float counterpart in `engine.rs`, `merge.rs` and `query.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tidemark_model::{HistogramSample, Labels, Matcher, Tenant};

use super::{rules, validate, wal_record, FrozenHistograms, HistogramSeries};
use crate::engine::{retention_cutoff, Engine, PendingFlush};
use crate::index::SeriesIndex;
use crate::metrics::RejectReason;
use crate::part::{Part, PartWriter};
use crate::series::SeriesId;
use crate::time;
use crate::{AppendStats, FsyncPolicy, StorageError};

impl Engine {
    /// Appends histogram samples with the float path's durability: validated, one WAL
    /// record for the batch, then the buffer, then an fsync per the policy.
    pub(crate) fn append_histograms(
        &self,
        tenant: Tenant,
        batch: &[HistogramSeries],
    ) -> Result<AppendStats, StorageError> {
        self.check_open()?;
        for (i, series) in batch.iter().enumerate() {
            for s in &series.samples {
                validate(&s.histogram).map_err(|reason| {
                    StorageError::Invalid(format!(
                        "native histogram of series {i} ({}) at {}: {reason}",
                        series.labels, s.timestamp
                    ))
                })?;
            }
        }
        let cutoff = retention_cutoff(&self.opts);
        let mut stats = AppendStats::default();
        let mut accepted: Vec<(&Labels, Vec<HistogramSample>)> = Vec::with_capacity(batch.len());
        for series in batch {
            let n = series.samples.len() as u64;
            if n == 0 {
                continue;
            }
            if series.labels.is_empty() {
                stats.rejected += n;
                self.metrics.reject(RejectReason::EmptyLabels, n);
                continue;
            }
            let kept: Vec<HistogramSample> = series
                .samples
                .iter()
                .filter(|s| s.timestamp >= cutoff)
                .cloned()
                .collect();
            let dropped = n - kept.len() as u64;
            if dropped > 0 {
                stats.rejected += dropped;
                self.metrics.reject(RejectReason::TooOld, dropped);
            }
            if !kept.is_empty() {
                accepted.push((&series.labels, kept));
            }
        }
        if accepted.is_empty() {
            return Ok(stats);
        }
        let clock = {
            let _gate = self.ingest_gate.read();
            let ids = accepted
                .iter()
                .map(|(labels, _)| self.registry.get_or_create(tenant, labels))
                .collect::<Result<Vec<SeriesId>, StorageError>>()?;
            let record: Vec<(&Labels, &[HistogramSample])> =
                accepted.iter().map(|(l, s)| (*l, s.as_slice())).collect();
            let clock = self
                .wal
                .append_encoded(|out| wal_record::encode(out, tenant, &record))?;
            self.histograms.note_series(ids.iter().copied());
            for (&id, (labels, samples)) in ids.iter().zip(&accepted) {
                index_days(&self.index, tenant, id, labels, samples);
                self.histograms.buffer.add(id, samples);
            }
            clock
        };
        if self.opts.fsync == FsyncPolicy::EveryBatch {
            self.wal.sync_through(clock)?;
        }
        stats.series = accepted.len() as u64;
        stats.samples = accepted.iter().map(|(_, s)| s.len() as u64).sum();
        self.metrics
            .rows_ingested
            .fetch_add(stats.samples, Ordering::Relaxed);
        if self.buffer.bytes() + self.histograms.buffer.bytes() > self.opts.memory_budget_bytes / 4
        {
            if let Some(bg) = self.background.lock().as_ref() {
                bg.request_flush();
            }
        }
        Ok(stats)
    }

    /// WAL replay of a histogram record (samples past retention are dropped).
    pub(crate) fn replay_histograms(
        registry: &crate::series::SeriesRegistry,
        index: &SeriesIndex,
        store: &super::HistogramStore,
        cutoff: i64,
        tenant: Tenant,
        series: Vec<(Labels, Vec<HistogramSample>)>,
    ) -> Result<(), StorageError> {
        for (labels, mut samples) in series {
            samples.retain(|s| s.timestamp >= cutoff);
            if labels.is_empty() || samples.is_empty() {
                continue;
            }
            let id = registry.get_or_create(tenant, &labels)?;
            store.note_series([id]);
            index_days(index, tenant, id, &labels, &samples);
            store.buffer.add(id, &samples);
        }
        Ok(())
    }

    /// Writes a frozen histogram buffer as one part per day it touches (level 0, like
    /// float flushes; merges combine them with float parts).
    pub(crate) fn write_histogram_parts(
        &self,
        frozen: &FrozenHistograms,
    ) -> Result<(), StorageError> {
        self.write_level0_parts(
            frozen.series.iter().map(|(id, s)| (*id, s.as_slice())),
            |s: &HistogramSample| s.timestamp,
            PartWriter::add_histograms,
        )
    }

    /// The histogram samples a merge writes for `id`: every input's, resolved,
    /// deduplicated and cut at retention like floats.
    pub(crate) fn merged_histograms(
        &self,
        id: SeriesId,
        inputs: &[Arc<Part>],
    ) -> Result<Vec<HistogramSample>, StorageError> {
        let mut out = Vec::new();
        for p in inputs {
            p.read_histograms(id, i64::MIN, i64::MAX, &mut out)?;
        }
        self.tombstones.apply_histograms(id, &mut out);
        rules::sort_and_resolve(&mut out);
        rules::apply_dedup_interval(&mut out, self.dedup_interval_ms());
        let cutoff = retention_cutoff(&self.opts);
        out.retain(|s| s.timestamp >= cutoff);
        Ok(out)
    }

    /// Histogram samples of the matching series in `[start, end]`, by label set.
    /// Reads in the float path's order (buffer, pending flushes, parts).
    pub(crate) fn select_histograms(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<(Labels, Vec<HistogramSample>)>, StorageError> {
        self.check_open()?;
        if start > end || self.histograms.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.histograms.filter(self.index.select(
            tenant,
            time::days_in(start, end),
            matchers,
        ));
        let series: Vec<(SeriesId, Labels, Vec<HistogramSample>)> = ids
            .into_iter()
            .filter_map(|id| {
                let info = self.registry.info(id)?;
                let mut buffered = Vec::new();
                self.histograms
                    .buffer
                    .collect(id, start, end, &mut buffered);
                Some((id, Labels::clone(&info.labels), buffered))
            })
            .collect();
        let pending: Vec<Arc<PendingFlush>> = self.pending.read().clone();
        let parts = self.partitions.parts_between(start, end);
        let dedup = self.dedup_interval_ms();
        let mut out = Vec::with_capacity(series.len());
        for (id, labels, mut samples) in series {
            for p in &pending {
                p.histograms.collect(id, start, end, &mut samples);
            }
            for part in &parts {
                if let Err(e) =
                    part.read_histograms_cached(id, start, end, &self.block_cache, &mut samples)
                {
                    self.quarantine_from_error(&e);
                    return Err(e);
                }
            }
            self.tombstones.apply_histograms(id, &mut samples);
            rules::sort_and_resolve(&mut samples);
            rules::apply_dedup_interval(&mut samples, dedup);
            rules::retain_range(&mut samples, start, end);
            if !samples.is_empty() {
                out.push((labels, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn index_days(
    index: &SeriesIndex,
    tenant: Tenant,
    id: SeriesId,
    labels: &Labels,
    samples: &[HistogramSample],
) {
    let mut last_day = None;
    for s in samples {
        let day = time::day_of(s.timestamp);
        if last_day != Some(day) {
            index.add(tenant, day, id, labels);
            last_day = Some(day);
        }
    }
}
