//! The read path: series selection through the day index, then samples merged from
//! the buffer, pending flushes and parts, resolved and deduplicated with the same
//! rules as merges ([`crate::samples`]).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use rayon::prelude::*;
use tidemark_model::{Labels, Matcher, Sample, Tenant, TimeSeries};

use crate::engine::{Engine, PendingFlush};
use crate::part::{BlockSlice, Part};
use crate::samples;
use crate::series::{sort_by_labels, SeriesId, SeriesInfo};
use crate::time;
use crate::StorageError;

/// Below this many series a select runs on the calling thread; rayon's hand-off costs more.
const PARALLEL_MIN_SERIES: usize = 32;

/// A selected float series; its labels are the registry's, shared rather than copied.
pub(crate) struct FloatSeries {
    pub labels: Arc<Labels>,
    pub samples: Vec<Sample>,
}

impl Engine {
    /// The float series matching `matchers` with samples in `[start, end]`, in label
    /// order, as owned [`TimeSeries`].
    pub(crate) fn select(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<TimeSeries>, StorageError> {
        let series = self.select_floats(tenant, matchers, start, end)?;
        Ok(series
            .into_iter()
            .map(|s| TimeSeries::new(Arc::unwrap_or_clone(s.labels), s.samples))
            .collect())
    }

    /// [`Engine::select`] with the labels shared with the registry.
    pub(crate) fn select_floats(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<FloatSeries>, StorageError> {
        self.check_open()?;
        if start > end {
            return Ok(Vec::new());
        }
        let ids = self.select_ids(tenant, matchers, start, end)?;
        // Data moves buffer → pending flush → part, and a part is published before its
        // pending flush is dropped. Looking in that same order (buffer first, parts
        // last) guarantees every sample is seen at least once while flushes run.
        let buffered: Vec<(SeriesId, Vec<Sample>)> = ids
            .into_iter()
            .map(|id| {
                let mut samples = Vec::new();
                self.buffer.collect(id, start, end, &mut samples);
                (id, samples)
            })
            .collect();
        let pending: Vec<Arc<PendingFlush>> = self.pending.read().clone();
        let parts = self.partitions.parts_between(start, end);
        // Labels are decoded from the registry only for series that have samples.
        let read = |(id, samples): (SeriesId, Vec<Sample>)| {
            let samples = self.read_samples(id, start, end, samples, &parts, &pending)?;
            if samples.is_empty() {
                return Ok(None);
            }
            Ok::<_, StorageError>(self.registry.info(id).map(|info| FloatSeries {
                labels: Arc::clone(&info.labels),
                samples,
            }))
        };
        let results: Result<Vec<Option<FloatSeries>>, StorageError> =
            if buffered.len() >= PARALLEL_MIN_SERIES {
                buffered.into_par_iter().map(read).collect()
            } else {
                buffered.into_iter().map(read).collect()
            };
        let mut out: Vec<FloatSeries> = match results {
            Ok(v) => v.into_iter().flatten().collect(),
            Err(e) => {
                self.quarantine_from_error(&e);
                return Err(e);
            }
        };
        sort_by_labels(&mut out, |s| &s.labels);
        Ok(out)
    }

    /// The ids of the series matching `matchers` on the days of `[start, end]`; more
    /// than `max_series_per_select` of them is an error.
    pub(crate) fn select_ids(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesId>, StorageError> {
        let ids = self
            .index
            .select(tenant, time::days_in(start, end), matchers);
        let limit = self.opts.max_series_per_select;
        if limit > 0 && ids.len() > limit {
            return Err(StorageError::TooManySeries { limit });
        }
        Ok(ids)
    }

    /// The series' samples in `[start, end]`: `buffered` (its in-memory samples) merged
    /// with what parts and pending flushes hold, resolved, deduplicated and with
    /// tombstones applied.
    pub(crate) fn read_samples(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        buffered: Vec<Sample>,
        parts: &[Arc<Part>],
        pending: &[Arc<PendingFlush>],
    ) -> Result<Vec<Sample>, StorageError> {
        thread_local! {
            /// The blocks of the series being read, reused across series and queries.
            static BLOCKS: RefCell<Vec<BlockSlice>> = const { RefCell::new(Vec::new()) };
        }
        BLOCKS.with(|cell| {
            // Taken out rather than borrowed: nothing below can re-enter, but a
            // borrow held across the reads would turn a mistake into a panic.
            let mut blocks = std::mem::take(&mut *cell.borrow_mut());
            let result =
                self.read_samples_with(id, start, end, buffered, parts, pending, &mut blocks);
            blocks.clear();
            *cell.borrow_mut() = blocks;
            result
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn read_samples_with(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        buffered: Vec<Sample>,
        parts: &[Arc<Part>],
        pending: &[Arc<PendingFlush>],
        blocks: &mut Vec<BlockSlice>,
    ) -> Result<Vec<Sample>, StorageError> {
        for part in parts {
            part.series_blocks_cached(id, start, end, &self.block_cache, blocks)?;
        }
        // The parts' samples are counted before any is copied, so the output grows
        // once instead of doubling through a series' few hundred samples.
        let from_parts: usize = blocks.iter().map(|b| b.range.len()).sum();
        // The buffer hands out its samples unsorted; each block is strictly increasing
        // (checked when it was decoded), so blocks alone are in order when each starts
        // after the previous one ends (the common case: one merged part).
        let mut in_order = buffered.is_empty();
        let mut out = buffered;
        out.reserve_exact(from_parts);
        let mut last: Option<i64> = None;
        for b in blocks.iter() {
            let samples = b.samples();
            if last.is_some_and(|t| samples[0].timestamp <= t) {
                in_order = false;
            }
            last = samples.last().map(|s| s.timestamp);
            out.extend_from_slice(samples);
        }
        for p in pending {
            let before = out.len();
            p.data.collect(id, start, end, &mut out);
            in_order &= out.len() == before;
        }
        let strictly_increasing =
            in_order || out.windows(2).all(|w| w[0].timestamp < w[1].timestamp);
        if !strictly_increasing {
            samples::sort_and_resolve(&mut out);
        }
        samples::apply_dedup_interval(&mut out, self.dedup_interval_ms());
        samples::retain_range(&mut out, start, end);
        self.tombstones.apply(id, &mut out);
        Ok(out)
    }

    pub(crate) fn dedup_interval_ms(&self) -> i64 {
        i64::try_from(self.opts.dedup_interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// Label sets of series matching any matcher set (all series when there is none).
    fn matching_labels(
        &self,
        tenant: Tenant,
        matcher_sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<Arc<SeriesInfo>>, StorageError> {
        self.check_open()?;
        if start > end {
            return Ok(Vec::new());
        }
        let days = time::days_in(start, end);
        let mut ids: Vec<SeriesId> = if matcher_sets.is_empty() {
            self.index.select(tenant, days, &[])
        } else {
            matcher_sets
                .iter()
                .flat_map(|m| self.index.select(tenant, days.clone(), m))
                .collect()
        };
        ids.sort_unstable();
        ids.dedup();
        // Listing every series would push out what the dashboards' selects cached.
        let cached = !matcher_sets.is_empty();
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                if cached {
                    self.registry.info(id)
                } else {
                    self.registry.info_uncached(id)
                }
            })
            .collect())
    }

    pub(crate) fn series(
        &self,
        tenant: Tenant,
        matcher_sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut out: Vec<Labels> = self
            .matching_labels(tenant, matcher_sets, start, end)?
            .into_iter()
            .map(owned_labels)
            .collect();
        sort_by_labels(&mut out, |l| l);
        truncate(&mut out, limit);
        Ok(out)
    }

    pub(crate) fn label_names(
        &self,
        tenant: Tenant,
        matcher_sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut names = BTreeSet::new();
        for info in self.matching_labels(tenant, matcher_sets, start, end)? {
            for l in info.labels.iter() {
                if !names.contains(&l.name) {
                    names.insert(l.name.clone());
                }
            }
        }
        let mut out: Vec<String> = names.into_iter().collect();
        truncate(&mut out, limit);
        Ok(out)
    }

    pub(crate) fn label_values(
        &self,
        tenant: Tenant,
        name: &str,
        matcher_sets: &[Vec<Matcher>],
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut values = BTreeSet::new();
        for info in self.matching_labels(tenant, matcher_sets, start, end)? {
            if let Some(v) = info.labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        let mut out: Vec<String> = values.into_iter().collect();
        truncate(&mut out, limit);
        Ok(out)
    }
}

/// The labels of a registry entry, moved out when the entry is not shared (the
/// registry decodes a fresh one per call) instead of cloned.
fn owned_labels(info: Arc<SeriesInfo>) -> Labels {
    let labels =
        Arc::try_unwrap(info).map_or_else(|shared| shared.labels.clone(), |info| info.labels);
    Arc::unwrap_or_clone(labels)
}

fn truncate<T>(v: &mut Vec<T>, limit: usize) {
    if limit > 0 {
        v.truncate(limit);
    }
}
