//! The in-memory buffer: samples appended since the last flush, sharded by series id
//! so concurrent writers rarely contend. One generic [`ShardedBuffer`] serves float
//! samples ([`Buffer`]) and native histogram samples (`crate::histograms`); the kinds
//! differ only in what [`Buffered`] says about them.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tidemark_model::Sample;

use crate::samples;
use crate::series::SeriesId;

const SHARDS: usize = 64;
/// Rough per-series memory cost, for the flush-on-memory-pressure trigger.
const SERIES_OVERHEAD_BYTES: u64 = 64;

/// A sample kind the buffer can hold.
pub(crate) trait Buffered: Clone {
    fn timestamp(&self) -> i64;
    /// Approximate memory this sample holds in the buffer (inline and heap).
    fn buffered_bytes(&self) -> u64;
    /// Sorts one series' samples by timestamp and resolves equal timestamps with the
    /// kind's read rule, as a flush needs them.
    fn sort_and_resolve(samples: &mut Vec<Self>);
}

impl Buffered for Sample {
    fn timestamp(&self) -> i64 {
        self.timestamp
    }

    fn buffered_bytes(&self) -> u64 {
        std::mem::size_of::<Sample>() as u64
    }

    fn sort_and_resolve(samples: &mut Vec<Sample>) {
        samples::sort_and_resolve(samples)
    }
}

/// The float sample buffer.
pub(crate) type Buffer = ShardedBuffer<Sample>;
/// A float buffer being written to parts.
pub(crate) type FrozenBuffer = Frozen<Sample>;

/// One shard: buffered samples per series, unsorted.
type Shard<T> = Mutex<FxHashMap<SeriesId, Vec<T>>>;

pub(crate) struct ShardedBuffer<T> {
    shards: Box<[Shard<T>]>,
    bytes: AtomicU64,
}

impl<T: Buffered> ShardedBuffer<T> {
    pub(crate) fn new() -> ShardedBuffer<T> {
        ShardedBuffer {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(FxHashMap::default()))
                .collect(),
            bytes: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: SeriesId) -> &Shard<T> {
        &self.shards[shard_of(id)]
    }

    pub(crate) fn add(&self, id: SeriesId, new: &[T]) {
        let mut shard = self.shard(id).lock();
        let added = add_to_shard(&mut shard, id, new);
        self.bytes.fetch_add(added, Ordering::Relaxed);
    }

    /// [`ShardedBuffer::add`] for a whole batch, locking each shard once rather than
    /// once per series (an append request carries hundreds of series).
    pub(crate) fn add_batch(&self, batch: &[(SeriesId, &[T])]) {
        // Counting sort of the entries by shard: stable, so a series given twice keeps
        // its samples in batch order.
        let mut starts = [0usize; SHARDS + 1];
        for (id, _) in batch {
            starts[shard_of(*id) + 1] += 1;
        }
        for s in 1..=SHARDS {
            starts[s] += starts[s - 1];
        }
        let mut next = starts;
        let mut order = vec![0usize; batch.len()];
        for (i, (id, _)) in batch.iter().enumerate() {
            let slot = &mut next[shard_of(*id)];
            order[*slot] = i;
            *slot += 1;
        }
        let mut added = 0;
        for s in 0..SHARDS {
            let run = &order[starts[s]..starts[s + 1]];
            if run.is_empty() {
                continue;
            }
            let mut shard = self.shards[s].lock();
            for &i in run {
                let (id, new) = batch[i];
                added += add_to_shard(&mut shard, id, new);
            }
        }
        self.bytes.fetch_add(added, Ordering::Relaxed);
    }

    /// Appends this series' buffered samples in `[start, end]` (unsorted) to `out`.
    pub(crate) fn collect(&self, id: SeriesId, start: i64, end: i64, out: &mut Vec<T>) {
        if let Some(v) = self.shard(id).lock().get(&id) {
            out.extend(
                v.iter()
                    .filter(|s| (start..=end).contains(&s.timestamp()))
                    .cloned(),
            );
        }
    }

    pub(crate) fn remove_series(&self, id: SeriesId) {
        self.shard(id).lock().remove(&id);
    }

    /// Moves everything out, leaving the buffer empty; each series sorted and resolved.
    /// The shard maps keep their capacity: the next interval buffers about as many
    /// series, and regrowing every map from empty after each flush cost rehashing.
    pub(crate) fn take(&self) -> Frozen<T> {
        let mut series = Vec::new();
        for shard in self.shards.iter() {
            series.extend(shard.lock().drain());
        }
        self.bytes.store(0, Ordering::Relaxed);
        series.sort_unstable_by_key(|(id, _)| *id);
        for (_, v) in &mut series {
            T::sort_and_resolve(v);
        }
        Frozen { series }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

fn shard_of(id: SeriesId) -> usize {
    (id % SHARDS as SeriesId) as usize
}

/// Appends one series' samples to its shard; returns the bytes this added.
fn add_to_shard<T: Buffered>(
    shard: &mut FxHashMap<SeriesId, Vec<T>>,
    id: SeriesId,
    new: &[T],
) -> u64 {
    let mut added = new.iter().map(T::buffered_bytes).sum::<u64>();
    let entry = shard.entry(id).or_insert_with(|| {
        added += SERIES_OVERHEAD_BYTES;
        Vec::new()
    });
    entry.extend_from_slice(new);
    added
}

/// A buffer being written to parts: read-only, each series sorted and resolved.
pub(crate) struct Frozen<T> {
    /// By ascending id, the order parts are written in (so a flush needs no sort and
    /// no hash map is built only to be iterated once).
    pub series: Vec<(SeriesId, Vec<T>)>,
}

impl<T> Default for Frozen<T> {
    fn default() -> Self {
        Frozen { series: Vec::new() }
    }
}

impl<T: Buffered> Frozen<T> {
    /// One series' samples, if it has any.
    pub(crate) fn get(&self, id: SeriesId) -> Option<&[T]> {
        let i = self.series.binary_search_by_key(&id, |(s, _)| *s).ok()?;
        Some(&self.series[i].1)
    }

    pub(crate) fn collect(&self, id: SeriesId, start: i64, end: i64, out: &mut Vec<T>) {
        if let Some(v) = self.get(id) {
            let lo = v.partition_point(|s| s.timestamp() < start);
            let hi = v.partition_point(|s| s.timestamp() <= end);
            out.extend_from_slice(&v[lo..hi.max(lo)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_sorts_resolves_and_empties() {
        let b = Buffer::new();
        b.add(7, &[Sample::new(3, 1.0), Sample::new(1, 1.0)]);
        b.add(7, &[Sample::new(3, 2.0)]);
        assert!(b.bytes() > 0);
        let mut got = Vec::new();
        b.collect(7, 2, 10, &mut got);
        assert_eq!(got.len(), 2);
        let frozen = b.take();
        assert_eq!(
            frozen.get(7),
            Some(&[Sample::new(1, 1.0), Sample::new(3, 2.0)][..])
        );
        assert_eq!(b.bytes(), 0);
        let mut got = Vec::new();
        b.collect(7, 0, 10, &mut got);
        assert!(got.is_empty());
        frozen.collect(7, 2, 10, &mut got);
        assert_eq!(got, vec![Sample::new(3, 2.0)]);
    }

    #[test]
    fn frozen_series_come_out_by_ascending_id() {
        let b = Buffer::new();
        // 130 and 2 share a shard, as do 65 and 1.
        for id in [130, 65, 2, 1, 64] {
            b.add(id, &[Sample::new(id as i64, 1.0)]);
        }
        let frozen = b.take();
        let ids: Vec<SeriesId> = frozen.series.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 2, 64, 65, 130]);
        assert_eq!(frozen.get(65), Some(&[Sample::new(65, 1.0)][..]));
        assert_eq!(frozen.get(3), None);
        // The emptied buffer takes new samples as before.
        b.add(2, &[Sample::new(9, 1.0)]);
        assert_eq!(b.take().get(2), Some(&[Sample::new(9, 1.0)][..]));
    }

    #[test]
    fn batch_add_matches_one_by_one() {
        let (one, batch) = (Buffer::new(), Buffer::new());
        let s = |t: i64| [Sample::new(t, t as f64)];
        let (a, b, c) = (s(1), s(2), s(3));
        // Ids 1 and 65 share a shard; id 1 appears twice.
        let entries: [(SeriesId, &[Sample]); 4] = [(1, &a), (65, &b), (2, &c), (1, &c)];
        for (id, samples) in entries {
            one.add(id, samples);
        }
        batch.add_batch(&entries);
        assert_eq!(one.bytes(), batch.bytes());
        for id in [1, 2, 65] {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            one.collect(id, i64::MIN, i64::MAX, &mut x);
            batch.collect(id, i64::MIN, i64::MAX, &mut y);
            assert_eq!(x, y, "series {id}");
        }
    }
}
