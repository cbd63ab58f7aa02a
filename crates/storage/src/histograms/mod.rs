//! Native histogram samples: validation, the in-memory buffer, the WAL record, and
//! the engine operations that carry them through flush, merge and select.
//!
//! Histograms follow the float path step for step (WAL record before the buffer,
//! group-committed fsync, flush into parts, size-tiered merges, tombstones,
//! retention, dedup) but live in their own buffer and their own blocks (sample kind
//! 2 in the block index, [`crate::encoding::encode_histogram_block`]), so the float
//! hot paths are untouched. One series may hold floats at some timestamps and
//! histograms at others; at a timestamp holding both, the histogram wins (see
//! [`select`]).

mod buffer;
mod ops;
mod rules;
pub(crate) mod select;
pub(crate) mod wal_record;

use parking_lot::RwLock;
use rustc_hash::FxHashSet;
use tidemark_model::{BucketSpan, FloatHistogram, HistogramSample, Labels};

pub(crate) use buffer::{FrozenHistograms, HistogramBuffer};

use crate::index::SeriesIndex;
use crate::partition::Partitions;
use crate::series::{SeriesId, SeriesRegistry};
use crate::wal::WalRecord;

/// Native histogram samples of one series, for [`crate::Storage::append_histograms`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    pub labels: Labels,
    pub samples: Vec<HistogramSample>,
}

/// Schema of native histograms with custom bucket bounds.
const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Why a histogram cannot be stored; the storage refuses what its codecs could not
/// represent faithfully (the protocol decoders already check the same on the wire).
pub(crate) fn validate(h: &FloatHistogram) -> Result<(), String> {
    if !((-4..=8).contains(&h.schema) || h.schema == CUSTOM_BUCKETS_SCHEMA) {
        return Err(format!("unsupported schema {}", h.schema));
    }
    if h.schema != CUSTOM_BUCKETS_SCHEMA && !h.custom_values.is_empty() {
        return Err("custom bucket bounds given for an exponential schema".into());
    }
    let described = |spans: &[BucketSpan]| spans.iter().map(|s| u64::from(s.length)).sum::<u64>();
    for (side, spans, buckets) in [
        ("positive", &h.positive_spans, h.positive_buckets.len()),
        ("negative", &h.negative_spans, h.negative_buckets.len()),
    ] {
        let n = described(spans);
        if n != buckets as u64 {
            return Err(format!(
                "{side} spans describe {n} buckets but the histogram has {buckets}"
            ));
        }
    }
    Ok(())
}

/// The engine's histogram state: the buffer, and which series ever held a
/// histogram (so float-only stores and series skip the histogram read path).
pub(crate) struct HistogramStore {
    pub buffer: HistogramBuffer,
    series: RwLock<FxHashSet<SeriesId>>,
}

impl HistogramStore {
    pub(crate) fn new() -> HistogramStore {
        HistogramStore {
            buffer: HistogramBuffer::new(),
            series: RwLock::new(FxHashSet::default()),
        }
    }

    /// A store knowing the histogram series of every open part, which it also adds
    /// to the day index (part series ids only list float series).
    pub(crate) fn open_parts(
        partitions: &Partitions,
        registry: &SeriesRegistry,
        index: &SeriesIndex,
    ) -> HistogramStore {
        let store = HistogramStore::new();
        for (day, parts) in partitions.all() {
            for part in parts {
                let ids: Vec<SeriesId> = part.histogram_series_ids().collect();
                for &id in &ids {
                    if let Some(info) = registry.info_uncached(id) {
                        index.add(info.tenant, day, id, &info.labels);
                    }
                }
                store.note_series(ids);
            }
        }
        store
    }

    /// WAL replay of a delete record: drops the buffered histograms of the series it
    /// deletes (called before the registry forgets them).
    pub(crate) fn forget_deleted(&self, registry: &SeriesRegistry, rec: &WalRecord) {
        if let WalRecord::Delete { tenant, series } = rec {
            for labels in series {
                if let Some(id) = registry.lookup(*tenant, labels) {
                    self.buffer.remove_series(id);
                }
            }
        }
    }

    pub(crate) fn note_series(&self, ids: impl IntoIterator<Item = SeriesId>) {
        let mut ids = ids.into_iter().peekable();
        if ids.peek().is_some() {
            self.series.write().extend(ids);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.read().is_empty()
    }

    /// Series ids (of `ids`) that hold histograms.
    pub(crate) fn filter(&self, ids: Vec<SeriesId>) -> Vec<SeriesId> {
        let set = self.series.read();
        ids.into_iter().filter(|id| set.contains(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        let mut h = FloatHistogram {
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.0],
            ..Default::default()
        };
        assert!(validate(&h).unwrap_err().contains("describe 2 buckets"));
        h.positive_buckets.push(1.0);
        assert_eq!(validate(&h), Ok(()));
        h.schema = 9;
        assert!(validate(&h).unwrap_err().contains("schema 9"));
        h.schema = 0;
        h.custom_values = vec![1.0];
        assert!(validate(&h).is_err());
    }
}
