//! The registry's in-memory state: live series stored once, as their keys.
//!
//! Each live series is one [`LiveSeries`] (id + [`key`](super::key) bytes) in a hash
//! table found by the key's hash, plus an `id → key hash` entry that finds it again by
//! id. Compared with a `key → id` map beside an `id → Labels` map this keeps one copy
//! of each identity in one allocation instead of two copies in ~20 allocations, and an
//! ingest lookup still costs one hash and one `memcmp`.

use std::collections::HashSet;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::SeriesId;

/// One live series.
pub(super) struct LiveSeries {
    pub id: SeriesId,
    pub key: Box<[u8]>,
}

#[derive(Default)]
pub(super) struct RegistryState {
    /// Every live series, hashed by [`key_hash`] of its key. Keys are unique unless a
    /// damaged log names one label set under two ids; both are then kept, as before.
    by_key: HashTable<LiveSeries>,
    /// Id of each live series → [`key_hash`] of its key, to find its `by_key` entry.
    key_hashes: FxHashMap<SeriesId, u64>,
    pub deleted: HashSet<SeriesId>,
    pub next_id: SeriesId,
}

fn key_hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl RegistryState {
    /// An empty state. Ids start at 1 (0 marks "none" in places).
    pub fn new() -> RegistryState {
        RegistryState {
            next_id: 1,
            ..RegistryState::default()
        }
    }

    pub fn find(&self, key: &[u8]) -> Option<SeriesId> {
        self.by_key
            .find(key_hash(key), |s| *s.key == *key)
            .map(|s| s.id)
    }

    /// The key of live series `id`.
    pub fn key_of(&self, id: SeriesId) -> Option<&[u8]> {
        let hash = *self.key_hashes.get(&id)?;
        self.by_key.find(hash, |s| s.id == id).map(|s| &*s.key)
    }

    /// Adds live series `id` (replacing its previous key, if any).
    pub fn insert(&mut self, id: SeriesId, key: Box<[u8]>) {
        self.remove_live(id);
        let hash = key_hash(&key);
        self.by_key
            .insert_unique(hash, LiveSeries { id, key }, |s| key_hash(&s.key));
        self.key_hashes.insert(id, hash);
        self.next_id = self.next_id.max(id + 1);
    }

    /// Deletes `id` for good: it is no longer live and never handed out again.
    pub fn remove(&mut self, id: SeriesId) {
        self.remove_live(id);
        self.deleted.insert(id);
        self.next_id = self.next_id.max(id + 1);
    }

    fn remove_live(&mut self, id: SeriesId) {
        if let Some(hash) = self.key_hashes.remove(&id) {
            if let Ok(entry) = self.by_key.find_entry(hash, |s| s.id == id) {
                entry.remove();
            }
        }
    }

    pub fn live_count(&self) -> usize {
        self.key_hashes.len()
    }

    pub fn live(&self) -> impl Iterator<Item = &LiveSeries> {
        self.by_key.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(key: &[u8]) -> Box<[u8]> {
        key.into()
    }

    #[test]
    fn finds_by_key_and_by_id_until_removed() {
        let mut state = RegistryState::default();
        for id in 1..=1000u64 {
            state.insert(id, boxed(format!("key-{id}").as_bytes()));
        }
        assert_eq!(state.live_count(), 1000);
        assert_eq!(state.find(b"key-77"), Some(77));
        assert_eq!(state.key_of(77), Some(&b"key-77"[..]));
        state.remove(77);
        assert_eq!(state.find(b"key-77"), None);
        assert_eq!(state.key_of(77), None);
        assert!(state.deleted.contains(&77));
        assert_eq!(state.live_count(), 999);
        assert_eq!(state.live().count(), 999);
        assert_eq!(state.next_id, 1001);
    }

    #[test]
    fn reinserting_an_id_replaces_its_key() {
        let mut state = RegistryState::default();
        state.insert(5, boxed(b"old"));
        state.insert(5, boxed(b"new"));
        assert_eq!(state.find(b"old"), None);
        assert_eq!(state.find(b"new"), Some(5));
        assert_eq!(state.live_count(), 1);
    }

    #[test]
    fn one_key_under_two_ids_keeps_both_until_each_is_removed() {
        let mut state = RegistryState::default();
        state.insert(1, boxed(b"same"));
        state.insert(2, boxed(b"same"));
        assert_eq!(state.key_of(1), Some(&b"same"[..]));
        assert_eq!(state.key_of(2), Some(&b"same"[..]));
        state.remove(1);
        assert_eq!(state.find(b"same"), Some(2));
        state.remove(2);
        assert_eq!(state.find(b"same"), None);
    }
}
