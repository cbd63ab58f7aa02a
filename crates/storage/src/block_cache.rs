//! A memory-bounded cache of decoded part blocks, shared by every query.
//!
//! Parts never change once written, so a block that was read, checksum-verified and
//! decoded once can serve every later query from memory: dashboards re-read the same
//! recent blocks at every refresh, and without the cache each refresh paid a `pread`,
//! a CRC pass and a decode per block. Entries are keyed by a process-unique part id
//! (never reused, so a merged-away part's entries can only age out, never be served
//! for another part) and the block's offset in `blocks.bin`.
//!
//! Eviction and the weight bound come from `quick_cache` (sharded, CLOCK-PRO-like);
//! the weight of an entry is the memory it holds, so the cache stays within its share
//! of `--memory.allowed-percent`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use tidemark_model::{HistogramSample, Sample};

/// Identifies one block: the reading part's process-unique id and the block's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    pub part: u64,
    pub offset: u64,
}

/// Decoded samples of one block, in time order, shared with readers without copying.
pub(crate) type DecodedBlock = Arc<[Sample]>;

/// Decoded native histogram samples of one block, in time order.
pub(crate) type DecodedHistogramBlock = Arc<[HistogramSample]>;

/// One cached block of either kind (a part's float and histogram blocks live at
/// distinct offsets of the same `blocks.bin`, so one key space serves both).
#[derive(Clone)]
pub(crate) enum CachedBlock {
    Floats(DecodedBlock),
    Histograms(DecodedHistogramBlock),
}

/// Heap and inline bytes of one histogram sample: its bucket vectors dominate.
fn histogram_sample_bytes(s: &HistogramSample) -> u64 {
    let h = &s.histogram;
    let spans = h.positive_spans.len() + h.negative_spans.len();
    let floats = h.positive_buckets.len() + h.negative_buckets.len() + h.custom_values.len();
    (std::mem::size_of::<HistogramSample>()
        + spans * std::mem::size_of::<tidemark_model::BucketSpan>()
        + floats * std::mem::size_of::<f64>()) as u64
}

/// Bookkeeping memory of one entry on top of its samples (key, `Arc` header, slot).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

#[derive(Clone)]
struct MemoryWeighter;

impl Weighter<BlockKey, CachedBlock> for MemoryWeighter {
    fn weight(&self, _key: &BlockKey, block: &CachedBlock) -> u64 {
        let samples = match block {
            CachedBlock::Floats(b) => std::mem::size_of_val::<[Sample]>(b) as u64,
            CachedBlock::Histograms(b) => b.iter().map(histogram_sample_bytes).sum(),
        };
        samples + ENTRY_OVERHEAD_BYTES
    }
}

/// Counters exported as `tidemark_storage_block_cache_*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
}

pub(crate) struct BlockCache {
    /// `None` when the budget is too small to hold anything useful.
    cache: Option<Cache<BlockKey, CachedBlock, MemoryWeighter>>,
    capacity_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Share of the memory budget given to decoded blocks. The in-memory buffer flushes
/// at a quarter of the budget (engine.rs); this leaves the rest for query evaluation,
/// ingestion buffers and the series registry.
const BUDGET_SHARE_PERCENT: u64 = 40;

/// The cache capacity for a memory budget (`--memory.allowed-percent` of the limit).
pub(crate) fn capacity_for_budget(budget_bytes: u64) -> u64 {
    budget_bytes / 100 * BUDGET_SHARE_PERCENT
}

/// Below this the cache is off: it could not hold a useful working set anyway.
const MIN_CAPACITY_BYTES: u64 = 1 << 20;
/// A typical block after merges holds a few hundred samples (~4 KiB decoded); the
/// estimate only sizes the hash tables up front.
const TYPICAL_BLOCK_BYTES: u64 = 4096;

impl BlockCache {
    pub(crate) fn new(capacity_bytes: u64) -> BlockCache {
        let cache = (capacity_bytes >= MIN_CAPACITY_BYTES).then(|| {
            let estimated_items = (capacity_bytes / TYPICAL_BLOCK_BYTES).clamp(16, 1 << 20);
            Cache::with_weighter(estimated_items as usize, capacity_bytes, MemoryWeighter)
        });
        BlockCache {
            capacity_bytes: if cache.is_some() { capacity_bytes } else { 0 },
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached float block, counting a hit or a miss.
    pub(crate) fn get(&self, key: &BlockKey) -> Option<DecodedBlock> {
        self.lookup(key, |block| match block {
            CachedBlock::Floats(b) => Some(b),
            CachedBlock::Histograms(_) => None,
        })
    }

    /// The cached histogram block, counting a hit or a miss.
    pub(crate) fn get_histograms(&self, key: &BlockKey) -> Option<DecodedHistogramBlock> {
        self.lookup(key, |block| match block {
            CachedBlock::Histograms(b) => Some(b),
            CachedBlock::Floats(_) => None,
        })
    }

    fn lookup<T>(
        &self,
        key: &BlockKey,
        of_kind: impl FnOnce(CachedBlock) -> Option<T>,
    ) -> Option<T> {
        let found = self
            .cache
            .as_ref()
            .and_then(|c| c.get(key))
            .and_then(of_kind);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a decoded float block; it may evict others (or be refused when larger than the cache).
    pub(crate) fn insert(&self, key: BlockKey, block: DecodedBlock) {
        if let Some(c) = &self.cache {
            c.insert(key, CachedBlock::Floats(block));
        }
    }

    /// Remembers a decoded histogram block, like [`BlockCache::insert`].
    pub(crate) fn insert_histograms(&self, key: BlockKey, block: DecodedHistogramBlock) {
        if let Some(c) = &self.cache {
            c.insert(key, CachedBlock::Histograms(block));
        }
    }

    pub(crate) fn stats(&self) -> BlockCacheStats {
        let (entries, bytes) = self
            .cache
            .as_ref()
            .map_or((0, 0), |c| (c.len() as u64, c.weight()));
        BlockCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
            bytes,
            capacity_bytes: self.capacity_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(len: usize, first_ts: i64) -> DecodedBlock {
        (0..len as i64)
            .map(|i| Sample::new(first_ts + i, i as f64))
            .collect()
    }

    fn key(part: u64, offset: u64) -> BlockKey {
        BlockKey { part, offset }
    }

    #[test]
    fn hits_and_misses_are_counted() {
        let cache = BlockCache::new(4 << 20);
        assert!(cache.get(&key(1, 0)).is_none());
        cache.insert(key(1, 0), block(10, 100));
        let got = cache.get(&key(1, 0)).expect("cached");
        assert_eq!(got[0], Sample::new(100, 0.0));
        assert!(cache.get(&key(2, 0)).is_none(), "another part's block");
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 2, 1));
        assert_eq!(s.bytes, 10 * 16 + ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn memory_stays_within_capacity_and_old_blocks_are_evicted() {
        let capacity = 2 << 20;
        let cache = BlockCache::new(capacity);
        // 64 blocks of 64 KiB each: four times the capacity.
        for offset in 0..64u64 {
            cache.insert(key(7, offset), block(4096, offset as i64 * 10_000));
            assert!(
                cache.stats().bytes <= capacity,
                "{} bytes cached after {offset} inserts",
                cache.stats().bytes
            );
        }
        let resident = (0..64u64)
            .filter(|&o| cache.get(&key(7, o)).is_some())
            .count();
        assert!(resident > 0 && resident < 64, "{resident} blocks resident");
        // A block larger than the whole cache is not kept.
        cache.insert(key(8, 0), block(200_000, 0));
        assert!(cache.stats().bytes <= capacity);
    }

    #[test]
    fn histogram_blocks_are_cached_apart_from_float_blocks_and_weighed_with_their_buckets() {
        use tidemark_model::{BucketSpan, FloatHistogram};
        let cache = BlockCache::new(4 << 20);
        let sample = |t: i64| HistogramSample {
            timestamp: t,
            histogram: FloatHistogram {
                positive_spans: vec![BucketSpan {
                    offset: 0,
                    length: 4,
                }],
                positive_buckets: vec![1.0; 4],
                ..Default::default()
            },
        };
        let block: DecodedHistogramBlock = vec![sample(1), sample(2)].into();
        cache.insert_histograms(key(3, 64), block);
        assert!(cache.get(&key(3, 64)).is_none(), "not a float block");
        let got = cache.get_histograms(&key(3, 64)).expect("cached");
        assert_eq!(got[1].timestamp, 2);
        let one = std::mem::size_of::<HistogramSample>() as u64
            + std::mem::size_of::<BucketSpan>() as u64
            + 4 * 8;
        assert_eq!(cache.stats().bytes, 2 * one + ENTRY_OVERHEAD_BYTES);
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
    }

    #[test]
    fn capacity_is_a_fixed_share_of_the_budget() {
        assert_eq!(capacity_for_budget(1000 << 20), 400 << 20);
        assert_eq!(capacity_for_budget(0), 0);
        assert_eq!(capacity_for_budget(u64::MAX), u64::MAX / 100 * 40);
    }

    #[test]
    fn tiny_budget_disables_the_cache() {
        let cache = BlockCache::new(1000);
        cache.insert(key(1, 0), block(1, 0));
        assert!(cache.get(&key(1, 0)).is_none());
        let s = cache.stats();
        assert_eq!((s.capacity_bytes, s.entries, s.misses), (0, 0, 1));
    }
}
