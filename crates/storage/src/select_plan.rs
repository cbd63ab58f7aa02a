//! A select handed out in batches of series, read on demand.
//!
//! [`Engine::select`] reads every matching series before returning, so a query over
//! ten thousand series holds all their samples at once and pays for growing, sorting
//! and dropping them together. A batched select resolves the series and their
//! labels up front, orders them by labels (the order a select returns), and reads
//! the samples of one batch when it is asked for: a consumer that folds each batch
//! into a small result holds one batch's samples per thread.

use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;
use tidemark_model::{Matcher, Sample, Tenant};

use crate::engine::{Engine, PendingFlush};
use crate::histograms;
use crate::part::Part;
use crate::series::{sort_by_labels, SeriesId, SeriesInfo};
use crate::{SeriesSamples, StorageError};

/// Series per batch: enough to amortise the per-batch work, few enough that a
/// batch's samples stay small.
pub const SELECT_BATCH_SERIES: usize = 256;

/// Below this many series the planning (about a microsecond per series) runs on
/// the calling thread: waking other threads would cost more.
const PARALLEL_MIN_SERIES: usize = 1024;

/// The batches of one select, in label order (see the module docs).
///
/// Batch `i` is read by [`SelectBatches::read`]; batches may be read concurrently
/// and in any order, each at most once. Concatenated in index order they equal
/// what [`crate::Storage::select_with_histograms`] returns at the instant the
/// batched select was made, with the same visibility guarantee while flushes run.
pub struct SelectBatches<'e> {
    engine: &'e Engine,
    start: i64,
    end: i64,
    /// Snapshots taken after the buffered samples were collected, as in a select:
    /// data moves buffer → pending flush → part, so looking in that order sees every
    /// sample at least once.
    pending: Vec<Arc<PendingFlush>>,
    parts: Vec<Arc<Part>>,
    batches: Vec<Mutex<Option<Batch>>>,
    /// Series in all batches (some may have no samples in the range).
    series: usize,
}

/// What a batch holds until it is read.
enum Batch {
    /// Series in label order with the samples the buffer held for them. Their
    /// labels are shared with the registry entry, not copied.
    Unread(Vec<(SeriesId, Arc<SeriesInfo>, Vec<Sample>)>),
    /// Already read (series with native histograms are joined with their floats
    /// when the select is made, as [`crate::Storage::select_with_histograms`] does).
    Read(Vec<SeriesSamples>),
}

impl SelectBatches<'_> {
    /// How many batches there are.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// How many series the batches hold at most: those matching, some of which
    /// may have no samples in the range.
    pub fn max_series(&self) -> usize {
        self.series
    }

    /// Whether no series matched.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// The series of batch `i` that have samples in the range, in label order.
    /// Fails when `i` is out of range or the batch was read before.
    pub fn read(&self, i: usize) -> Result<Vec<SeriesSamples>, StorageError> {
        let batch = self
            .batches
            .get(i)
            .and_then(|b| b.lock().take())
            .ok_or_else(|| {
                StorageError::Invalid(format!("select batch {i} does not exist or was read"))
            })?;
        let series = match batch {
            Batch::Read(series) => return Ok(series),
            Batch::Unread(series) => series,
        };
        let mut out = Vec::with_capacity(series.len());
        for (id, info, buffered) in series {
            let floats = self
                .engine
                .read_samples(
                    id,
                    self.start,
                    self.end,
                    buffered,
                    &self.parts,
                    &self.pending,
                )
                .inspect_err(|e| self.engine.quarantine_from_error(e))?;
            if !floats.is_empty() {
                out.push(SeriesSamples {
                    labels: Arc::clone(&info.labels),
                    floats,
                    histograms: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// The batched form of a select with histograms (see [`SelectBatches`]).
    pub(crate) fn select_batches(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<SelectBatches<'_>, StorageError> {
        self.check_open()?;
        let mut plan = SelectBatches {
            engine: self,
            start,
            end,
            pending: Vec::new(),
            parts: Vec::new(),
            batches: Vec::new(),
            series: 0,
        };
        if start > end {
            return Ok(plan);
        }
        let ids = self.select_ids(tenant, matchers, start, end)?;
        if !self.histograms.is_empty() && !self.histograms.filter(ids.clone()).is_empty() {
            // Rare: join floats and histograms the way a select does, then hand
            // the joined series out in the same batches.
            let floats = self.select_floats(tenant, matchers, start, end)?;
            let hists = self.select_histograms(tenant, matchers, start, end)?;
            let joined = histograms::select::join(floats, hists);
            plan.series = joined.len();
            let mut joined = joined.into_iter().peekable();
            while joined.peek().is_some() {
                let batch: Vec<SeriesSamples> = joined.by_ref().take(SELECT_BATCH_SERIES).collect();
                plan.batches.push(Mutex::new(Some(Batch::Read(batch))));
            }
            return Ok(plan);
        }
        let resolve = |id: SeriesId| {
            let mut buffered = Vec::new();
            self.buffer.collect(id, start, end, &mut buffered);
            Some((id, self.registry.info(id)?, buffered))
        };
        let mut series: Vec<(SeriesId, Arc<SeriesInfo>, Vec<Sample>)> =
            if ids.len() >= PARALLEL_MIN_SERIES {
                ids.into_par_iter().filter_map(resolve).collect()
            } else {
                ids.into_iter().filter_map(resolve).collect()
            };
        plan.pending = self.pending.read().clone();
        plan.parts = self.partitions.parts_between(start, end);
        sort_by_labels(&mut series, |s| &s.1.labels);
        plan.series = series.len();
        let mut series = series.into_iter().peekable();
        while series.peek().is_some() {
            let batch: Vec<_> = series.by_ref().take(SELECT_BATCH_SERIES).collect();
            plan.batches.push(Mutex::new(Some(Batch::Unread(batch))));
        }
        Ok(plan)
    }
}
