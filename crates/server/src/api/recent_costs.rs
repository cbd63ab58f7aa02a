//! How long each recent query took, so the next run of the same query can be placed
//! well (see `compute::Placement`).
//!
//! Dashboards and rule evaluations send the same query text over the same span again
//! and again, so the last evaluation's time is a good guess of the next one's. A guess
//! that turns out wrong costs one slow run: the memo then holds the new time.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::Duration;

/// Distinct queries remembered; when full, the memo starts over (it soon holds again
/// whatever is being asked now).
const ENTRIES: usize = 4096;

/// What identifies "the same query" for cost purposes: the kind of evaluation, the text
/// and the number of steps (the same panel over 1h and over 7d costs very differently).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CostKey(u64);

impl CostKey {
    pub fn new(kind: &str, text: &str, steps: i64) -> CostKey {
        CostKey(KEY_HASHER.hash_one((kind, text, steps)))
    }
}

/// A fixed hasher: keys only need to tell recent queries apart within one process,
/// and a collision only misplaces one query once.
static KEY_HASHER: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// Last evaluation time per query, bounded to [`ENTRIES`] queries.
#[derive(Default)]
pub struct RecentCosts {
    last: Mutex<HashMap<CostKey, Duration>>,
}

impl RecentCosts {
    /// The last recorded time for `key`, if any.
    pub fn last(&self, key: CostKey) -> Option<Duration> {
        self.lock().get(&key).copied()
    }

    pub fn record(&self, key: CostKey, took: Duration) {
        let mut last = self.lock();
        if last.len() >= ENTRIES && !last.contains_key(&key) {
            last.clear();
        }
        last.insert(key, took);
    }

    /// Entries are plain values, always whole: a panic elsewhere while locked leaves
    /// nothing half-written.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CostKey, Duration>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_time_per_query() {
        let costs = RecentCosts::default();
        let a = CostKey::new("range", "up", 111);
        assert_eq!(costs.last(a), None);
        costs.record(a, Duration::from_micros(80));
        costs.record(a, Duration::from_millis(30));
        assert_eq!(costs.last(a), Some(Duration::from_millis(30)));
        assert_eq!(costs.last(CostKey::new("range", "up", 112)), None);
        assert_eq!(costs.last(CostKey::new("instant", "up", 111)), None);
        assert_eq!(costs.last(CostKey::new("range", "up ", 111)), None);
    }

    #[test]
    fn stays_bounded() {
        let costs = RecentCosts::default();
        for i in 0..(ENTRIES as i64 * 3 + 7) {
            costs.record(CostKey::new("range", "up", i), Duration::from_micros(1));
        }
        assert!(costs.lock().len() <= ENTRIES);
        let newest = CostKey::new("range", "up", ENTRIES as i64 * 3 + 6);
        assert_eq!(costs.last(newest), Some(Duration::from_micros(1)));
    }
}
