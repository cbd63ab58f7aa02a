//! Size-tiered merges within a day partition.
//!
//! A part's tier is `floor(log4(samples))`. When one tier of a partition holds
//! [`MIN_PARTS_PER_MERGE`] parts, up to [`MAX_PARTS_PER_MERGE`] of them are merged.
//! The output holds at least four times the samples of its smallest input's tier
//! (less only when deduplication or tombstones shrink it), so a sample is rewritten
//! about once per tier: write amplification is bounded by `log4(partition samples /
//! flushed part samples)`, and a partition holds at most 3 parts per tier.
//!
//! Merging applies the read rules (same-timestamp resolution, `dedup_interval`),
//! drops tombstoned series, and drops samples past retention. A merge only starts
//! when the disk has room for its output (the inputs' size plus a margin).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::{retention_cutoff, Engine};
use crate::fsutil;
use crate::part::{Part, PartWriter};
use crate::samples;
use crate::time::Day;
use crate::StorageError;

const MIN_PARTS_PER_MERGE: usize = 4;
const MAX_PARTS_PER_MERGE: usize = 16;
/// Free space required beyond the inputs' size, as a fraction of it, plus a floor.
const DISK_MARGIN_FRACTION: u64 = 10;
const DISK_MARGIN_FLOOR: u64 = 16 << 20;

fn tier(part: &Part) -> u32 {
    (63 - part.meta.samples.max(1).leading_zeros()) / 2
}

/// The parts of one partition to merge next, if any tier is full.
fn pick_tiered(parts: &[Arc<Part>]) -> Option<Vec<Arc<Part>>> {
    let mut by_tier: std::collections::BTreeMap<u32, Vec<Arc<Part>>> = Default::default();
    for p in parts {
        by_tier.entry(tier(p)).or_default().push(p.clone());
    }
    let (_, mut group) = by_tier
        .into_iter()
        .find(|(_, g)| g.len() >= MIN_PARTS_PER_MERGE)?;
    group.sort_by_key(|p| p.meta.samples);
    group.truncate(MAX_PARTS_PER_MERGE);
    Some(group)
}

impl Engine {
    /// Runs merges until no partition has a full tier (or, with `force`, until every
    /// partition is a single part without tombstoned series). Returns merges done.
    pub(crate) fn run_merges(&self, force: bool) -> Result<usize, StorageError> {
        let _maintenance = self.maintenance_lock.lock();
        let mut done = 0;
        loop {
            let mut progressed = false;
            for (day, parts) in self.partitions.all() {
                let inputs = if force {
                    self.pick_forced(&parts)
                } else {
                    pick_tiered(&parts)
                };
                let Some(inputs) = inputs else { continue };
                if !self.has_room_for(&inputs) {
                    self.metrics
                        .merges_skipped_low_disk
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(day, "not enough free disk space to merge; skipped");
                    continue;
                }
                self.merge(day, &inputs)?;
                done += 1;
                progressed = true;
            }
            if !progressed {
                // Merging is also when the registry log is folded into its snapshot:
                // always on a forced merge, otherwise once the log has grown.
                if force {
                    self.registry.compact()?;
                } else {
                    self.registry.compact_if_grown()?;
                }
                return Ok(done);
            }
        }
    }

    fn pick_forced(&self, parts: &[Arc<Part>]) -> Option<Vec<Arc<Part>>> {
        let needs_rewrite = |p: &Arc<Part>| {
            p.series_ids()
                .chain(p.histogram_series_ids())
                .any(|id| self.registry.is_deleted(id) || !self.registry.is_live(id))
        };
        if parts.len() > 1 || parts.iter().any(needs_rewrite) {
            let mut all = parts.to_vec();
            all.sort_by_key(|p| p.meta.samples);
            all.truncate(MAX_PARTS_PER_MERGE);
            return Some(all);
        }
        None
    }

    fn has_room_for(&self, inputs: &[Arc<Part>]) -> bool {
        let needed: u64 = inputs.iter().map(|p| p.size_bytes).sum();
        let needed = needed + needed / DISK_MARGIN_FRACTION + DISK_MARGIN_FLOOR;
        fsutil::available_space(self.data_dir()).is_none_or(|free| free >= needed)
    }

    fn merge(&self, day: Day, inputs: &[Arc<Part>]) -> Result<(), StorageError> {
        let level = inputs.iter().map(|p| p.meta.level).max().unwrap_or(0) + 1;
        let ids: BTreeSet<u64> = inputs
            .iter()
            .flat_map(|p| p.series_ids().chain(p.histogram_series_ids()))
            .collect();
        let cutoff = retention_cutoff(&self.opts);
        let dedup = self.dedup_interval_ms();
        let mut writer = PartWriter::create(
            &self.partitions.partition_dir(day),
            self.next_part_seq(),
            level,
            day,
        )?;
        let mut samples = Vec::new();
        for id in ids {
            if !self.registry.is_live(id) {
                // Tombstoned (or unknown): the merge is where its data goes away.
                continue;
            }
            samples.clear();
            for p in inputs {
                if let Err(e) = p.read_series(id, i64::MIN, i64::MAX, &mut samples) {
                    writer.discard();
                    self.quarantine_from_error(&e);
                    self.metrics.merge_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
            samples::sort_and_resolve(&mut samples);
            samples::apply_dedup_interval(&mut samples, dedup);
            samples.retain(|s| s.timestamp >= cutoff);
            self.tombstones.apply(id, &mut samples);
            if let Err(e) = writer.add_series(id, &samples) {
                writer.discard();
                self.metrics.merge_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            let histograms = self
                .merged_histograms(id, inputs)
                .inspect_err(|e| self.quarantine_from_error(e))
                .and_then(|h| writer.add_histograms(id, &h));
            if let Err(e) = histograms {
                writer.discard();
                self.metrics.merge_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        let replaces = inputs.iter().map(|p| p.meta.seq).collect();
        let output = writer.finish(replaces)?;
        self.partitions.replace(day, inputs, output)?;
        self.metrics.merged(level);
        Ok(())
    }

    pub(crate) fn force_merge(&self) -> Result<(), StorageError> {
        self.check_open()?;
        self.flush_inner()?;
        self.run_merges(true).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part_with(dir: &std::path::Path, seq: u64, samples: i64) -> Arc<Part> {
        let mut w = PartWriter::create(dir, seq, 0, 0).unwrap();
        let s: Vec<tidemark_model::Sample> = (0..samples)
            .map(|i| tidemark_model::Sample::new(i, 1.0))
            .collect();
        w.add_series(1, &s).unwrap();
        Arc::new(w.finish(Vec::new()).unwrap().unwrap())
    }

    #[test]
    fn tiers_merge_only_when_four_similar_parts_exist() {
        let dir = tempfile::tempdir().unwrap();
        // floor(log4(samples)): 20, 25 and 30 are tier 2; 1000 is tier 4.
        let mut parts = vec![
            part_with(dir.path(), 1, 20),
            part_with(dir.path(), 2, 20),
            part_with(dir.path(), 3, 30),
            part_with(dir.path(), 4, 1000),
        ];
        assert!(pick_tiered(&parts).is_none(), "three parts in a tier wait");
        parts.push(part_with(dir.path(), 5, 25));
        let picked = pick_tiered(&parts).unwrap();
        let mut seqs: Vec<u64> = picked.iter().map(|p| p.meta.seq).collect();
        seqs.sort();
        assert_eq!(seqs, vec![1, 2, 3, 5], "the big part is left alone");
    }
}
