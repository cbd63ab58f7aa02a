//! Histogram samples appended since the last flush, kept apart from the float
//! buffer so the float append path pays nothing for histograms.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tidemark_model::{FloatHistogram, HistogramSample};

use super::rules;
use crate::series::SeriesId;

const SHARDS: usize = 16;
const SERIES_OVERHEAD_BYTES: u64 = 64;

/// Approximate heap and inline size of one buffered sample, for the memory budget.
fn sample_bytes(h: &FloatHistogram) -> u64 {
    let buckets = h.positive_buckets.len() + h.negative_buckets.len() + h.custom_values.len();
    let spans = h.positive_spans.len() + h.negative_spans.len();
    (std::mem::size_of::<HistogramSample>() + buckets * 8 + spans * 8) as u64
}

type Shard = Mutex<FxHashMap<SeriesId, Vec<HistogramSample>>>;

pub(crate) struct HistogramBuffer {
    shards: Box<[Shard]>,
    bytes: AtomicU64,
}

impl HistogramBuffer {
    pub(crate) fn new() -> HistogramBuffer {
        HistogramBuffer {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(FxHashMap::default()))
                .collect(),
            bytes: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: SeriesId) -> &Shard {
        &self.shards[(id as usize) % SHARDS]
    }

    pub(crate) fn add(&self, id: SeriesId, new: &[HistogramSample]) {
        let mut added: u64 = new.iter().map(|s| sample_bytes(&s.histogram)).sum();
        let mut shard = self.shard(id).lock();
        let entry = shard.entry(id).or_insert_with(|| {
            added += SERIES_OVERHEAD_BYTES;
            Vec::new()
        });
        entry.extend_from_slice(new);
        self.bytes.fetch_add(added, Ordering::Relaxed);
    }

    /// Appends this series' buffered samples in `[start, end]` (unsorted) to `out`.
    pub(crate) fn collect(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<HistogramSample>,
    ) {
        if let Some(v) = self.shard(id).lock().get(&id) {
            out.extend(
                v.iter()
                    .filter(|s| s.timestamp >= start && s.timestamp <= end)
                    .cloned(),
            );
        }
    }

    pub(crate) fn remove_series(&self, id: SeriesId) {
        self.shard(id).lock().remove(&id);
    }

    /// Moves everything out, leaving the buffer empty; each series sorted and resolved.
    pub(crate) fn take(&self) -> FrozenHistograms {
        let mut series = HashMap::new();
        for shard in self.shards.iter() {
            series.extend(std::mem::take(&mut *shard.lock()));
        }
        self.bytes.store(0, Ordering::Relaxed);
        for v in series.values_mut() {
            rules::sort_and_resolve(v);
        }
        FrozenHistograms { series }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// A histogram buffer being written to parts: read-only, sorted and resolved.
#[derive(Default)]
pub(crate) struct FrozenHistograms {
    pub series: HashMap<SeriesId, Vec<HistogramSample>>,
}

impl FrozenHistograms {
    pub(crate) fn collect(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<HistogramSample>,
    ) {
        if let Some(v) = self.series.get(&id) {
            let lo = v.partition_point(|s| s.timestamp < start);
            let hi = v.partition_point(|s| s.timestamp <= end);
            out.extend_from_slice(&v[lo..hi.max(lo)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: i64, count: f64) -> HistogramSample {
        HistogramSample {
            timestamp: t,
            histogram: FloatHistogram {
                count,
                ..Default::default()
            },
        }
    }

    #[test]
    fn take_sorts_resolves_and_empties() {
        let b = HistogramBuffer::new();
        b.add(3, &[h(5, 1.0), h(2, 1.0)]);
        b.add(3, &[h(5, 4.0)]);
        assert!(b.bytes() > 0);
        let mut got = Vec::new();
        b.collect(3, 3, 9, &mut got);
        assert_eq!(got.len(), 2);
        let frozen = b.take();
        assert_eq!(frozen.series[&3], vec![h(2, 1.0), h(5, 4.0)]);
        assert_eq!(b.bytes(), 0);
        let mut got = Vec::new();
        frozen.collect(3, 3, 9, &mut got);
        assert_eq!(got, vec![h(5, 4.0)]);
    }
}
