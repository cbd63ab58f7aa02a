//! A memory-bounded cache of decoded series identities by id.
//!
//! The registry stores each series once, as its key, and decoding the key into
//! [`Labels`](tidemark_model::Labels) costs two allocations per label. Queries ask for
//! the identity of every selected series on every run, so a dashboard refreshing the
//! same few thousand series would pay that decode each time; this cache keeps the
//! decoded `Arc<SeriesInfo>` of recently asked ids instead.
//!
//! Ids are never reused, so an entry can only go stale when its series is deleted; the
//! registry removes it then (under its state write lock, see `SeriesRegistry::delete`).
//! Eviction and the weight bound come from `quick_cache`; an entry weighs the memory it
//! holds.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use tidemark_model::{Label, Labels};

use super::{SeriesId, SeriesInfo};

/// Capacity when no memory budget says otherwise, and the floor of the budgeted
/// size: ~100k typical series (a few hundred bytes each).
pub(super) const DEFAULT_CAPACITY_BYTES: u64 = 32 << 20;

/// Bookkeeping memory of one entry beyond its labels (id, `Arc` header, cache slot).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// Only pre-sizes the hash tables; they grow as needed up to the weight bound.
const ESTIMATED_ENTRIES: usize = 4096;

/// The heap bytes `info` holds: the shared `SeriesInfo`, its shared `Labels` (with
/// the `Arc`'s two counters), the label vector and strings.
fn info_bytes(info: &SeriesInfo) -> u64 {
    let labels: usize = info
        .labels
        .iter()
        .map(|l| std::mem::size_of::<Label>() + l.name.len() + l.value.len())
        .sum();
    let shared_labels = std::mem::size_of::<Labels>() + 2 * std::mem::size_of::<usize>();
    (std::mem::size_of::<SeriesInfo>() + shared_labels + labels) as u64 + ENTRY_OVERHEAD_BYTES
}

#[derive(Clone)]
struct InfoWeighter;

impl Weighter<SeriesId, Arc<SeriesInfo>> for InfoWeighter {
    fn weight(&self, _id: &SeriesId, info: &Arc<SeriesInfo>) -> u64 {
        info_bytes(info)
    }
}

pub(super) struct InfoCache {
    cache: Cache<SeriesId, Arc<SeriesInfo>, InfoWeighter>,
}

impl InfoCache {
    pub(super) fn new(capacity_bytes: u64) -> InfoCache {
        InfoCache {
            cache: Cache::with_weighter(ESTIMATED_ENTRIES, capacity_bytes, InfoWeighter),
        }
    }

    pub(super) fn get(&self, id: SeriesId) -> Option<Arc<SeriesInfo>> {
        self.cache.get(&id)
    }

    /// Caches `info` for `id`; the caller must hold the registry state lock in which
    /// `id` was found live, so a concurrent delete cannot slip in before the insert.
    pub(super) fn insert(&self, id: SeriesId, info: Arc<SeriesInfo>) {
        self.cache.insert(id, info);
    }

    pub(super) fn remove(&self, id: SeriesId) {
        self.cache.remove(&id);
    }

    #[cfg(test)]
    pub(super) fn weight(&self) -> u64 {
        self.cache.weight()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{Labels, Tenant};

    fn info(i: u64) -> Arc<SeriesInfo> {
        Arc::new(SeriesInfo {
            tenant: Tenant::DEFAULT,
            labels: Arc::new(Labels::from_pairs([
                ("__name__", "m".to_string()),
                ("i", i.to_string()),
            ])),
        })
    }

    #[test]
    fn stays_within_its_weight_bound() {
        let capacity = 64 * 1024;
        let cache = InfoCache::new(capacity);
        let one = info_bytes(&info(1));
        for i in 0..10_000 {
            cache.insert(i, info(i));
        }
        assert!(
            cache.weight() <= capacity,
            "{} > {capacity}",
            cache.weight()
        );
        assert!(cache.len() as u64 <= capacity / one);
        assert!(cache.len() > 0, "a bounded cache still holds entries");
    }

    #[test]
    fn removed_entries_are_gone() {
        let cache = InfoCache::new(1 << 20);
        cache.insert(7, info(7));
        assert_eq!(cache.get(7).unwrap().labels, info(7).labels);
        cache.remove(7);
        assert!(cache.get(7).is_none());
    }
}
