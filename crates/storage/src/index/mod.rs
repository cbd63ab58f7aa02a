//! The inverted index, partitioned by (tenant, day).
//!
//! Each day holds `label name → value → series ids` postings for exactly the series
//! with samples on that day, so a query over an hour touches one or two days'
//! postings instead of every series ever seen. Label sets themselves live once, in the
//! [`crate::series::SeriesRegistry`].
//!
//! Persistence: compactions ([`SeriesIndex::compact`], at flush and close) fold each
//! day's recently added series into an immutable encoded layer and write it to the
//! day's postings file ([`day_file`]). Opening loads those files and reconciles them
//! with the day's parts, so only series the files miss are re-added from their labels;
//! without files (or with corrupt ones) the whole day is rebuilt that way. Opening
//! therefore never reads data blocks.

mod day_file;
mod frozen;
mod id_set;
mod postings;
pub(crate) mod registry_snapshot;
#[cfg(test)]
mod tests;

pub(crate) use postings::DayIndex;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use tidemark_model::{Labels, Matcher, Tenant};

use crate::fsutil::{self, io_err};
use crate::index::frozen::FrozenPostings;
use crate::index::postings::Compaction;
use crate::part::Part;
use crate::series::{SeriesId, SeriesRegistry};
use crate::time::Day;
use crate::StorageError;

/// Name of the postings directory inside `index/`.
pub(crate) const POSTINGS_DIR: &str = "postings";
/// A flush compacts a day once the series changed since its last compaction reach
/// this fraction of its frozen series (amortising the rebuild to O(1) per series)…
const GROWTH_FRACTION_TO_COMPACT: usize = 4;
/// …and at least this many, so small days are not rewritten on every flush.
const MIN_CHANGES_TO_COMPACT: usize = 1024;

pub(crate) struct SeriesIndex {
    days: RwLock<FxHashMap<(Tenant, Day), DayIndex>>,
    /// `index/postings`.
    dir: PathBuf,
    /// Serialises compactions with each other and with retention, so a file is never
    /// rewritten for a day retention just dropped.
    persisting: Mutex<()>,
    /// What opening found, for logs and tests.
    open_report: IndexOpenReport,
}

/// What [`SeriesIndex::open`] found.
#[derive(Debug, Default)]
pub(crate) struct IndexOpenReport {
    /// Days whose postings file was loaded.
    pub days_loaded: u64,
    /// Days without a usable file, rebuilt from labels.
    pub days_rebuilt: u64,
    /// Files that were unreadable or corrupt (those days are among the rebuilt ones).
    pub corrupt_files: u64,
    /// Series added from their labels because no file listed them.
    pub series_added: u64,
    /// Series a file listed that no part holds or the registry no longer knows.
    pub series_dropped: u64,
    /// Largest series id any file names, which must never be handed out again.
    pub max_series_id: SeriesId,
}

/// Which days [`SeriesIndex::compact`] compacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompactPolicy {
    /// Days that grew enough since their last compaction (the periodic flush).
    Grown,
    /// Every day with any change (close), so the next open loads everything.
    Changed,
}

impl SeriesIndex {
    /// Loads the index of the days in `partitions`, reconciling each day's postings
    /// file with the series ids its parts hold: series the file lacks are added from
    /// their registry labels; series no part holds, or deleted since, are hidden.
    /// (Ids the registry lost to corruption stay listed, as they would in parts;
    /// reads skip ids without labels.) The WAL replay that follows re-adds unflushed
    /// series. Files for days without parts are removed.
    pub(crate) fn open(
        index_dir: &Path,
        partitions: &[(Day, Vec<Arc<Part>>)],
        registry: &SeriesRegistry,
    ) -> Result<SeriesIndex, StorageError> {
        let dir = index_dir.join(POSTINGS_DIR);
        fsutil::create_dir_all(&dir)?;
        remove_files_except(&dir, |day| partitions.iter().any(|(d, _)| *d == day))?;
        let mut report = IndexOpenReport::default();
        let mut days = FxHashMap::default();
        for (day, parts) in partitions {
            let day = *day;
            let mut in_parts: Vec<SeriesId> = parts
                .iter()
                .flat_map(|p| p.series_ids().chain(p.histogram_series_ids()))
                .collect();
            in_parts.sort_unstable();
            in_parts.dedup();
            let sections = match day_file::read(&dir, day) {
                Ok(sections) => {
                    report.days_loaded += 1;
                    sections
                }
                Err(day_file::ReadError::Missing) => {
                    report.days_rebuilt += 1;
                    Vec::new()
                }
                Err(day_file::ReadError::Corrupt(e)) => {
                    tracing::error!(error = %e, "corrupt postings file; rebuilding the day's index");
                    report.days_rebuilt += 1;
                    report.corrupt_files += 1;
                    Vec::new()
                }
            };
            let mut loaded: Vec<(Tenant, DayIndex)> = Vec::with_capacity(sections.len());
            for (tenant, frozen) in sections {
                if let Some(max) = frozen.ids().last() {
                    report.max_series_id = report.max_series_id.max(max);
                }
                // Both ascending: one merge walk finds the ids no part holds.
                let mut parts_ahead = in_parts.iter().peekable();
                let stale: Vec<SeriesId> = frozen
                    .ids()
                    .filter(|&id| {
                        while parts_ahead.next_if(|&&p| p < id).is_some() {}
                        parts_ahead.peek() != Some(&&id) || registry.is_deleted(id)
                    })
                    .collect();
                let mut index = DayIndex::from_frozen(frozen);
                report.series_dropped += stale.len() as u64;
                for id in stale {
                    index.remove(id);
                }
                loaded.push((tenant, index));
            }
            for id in in_parts {
                if loaded.iter().any(|(_, d)| d.frozen().contains(id)) {
                    continue;
                }
                if let Some(info) = registry.info_uncached(id) {
                    report.series_added += 1;
                    let entry = match loaded.iter().position(|(t, _)| *t == info.tenant) {
                        Some(i) => &mut loaded[i].1,
                        None => {
                            loaded.push((info.tenant, DayIndex::default()));
                            &mut loaded.last_mut().expect("just pushed").1
                        }
                    };
                    entry.add(id, &info.labels);
                }
            }
            days.extend(loaded.into_iter().map(|(tenant, d)| ((tenant, day), d)));
        }
        Ok(SeriesIndex {
            days: RwLock::new(days),
            dir,
            persisting: Mutex::new(()),
            open_report: report,
        })
    }

    /// What [`SeriesIndex::open`] found.
    pub(crate) fn open_report(&self) -> &IndexOpenReport {
        &self.open_report
    }

    /// Records that `id` has samples on `day`.
    pub(crate) fn add(&self, tenant: Tenant, day: Day, id: SeriesId, labels: &Labels) {
        if self
            .days
            .read()
            .get(&(tenant, day))
            .is_some_and(|d| d.contains(id))
        {
            return;
        }
        self.days
            .write()
            .entry((tenant, day))
            .or_default()
            .add(id, labels);
    }

    /// Keeps in `entries` only the `(day, id)` pairs the index does not hold yet, under
    /// one shared lock: the append path's cheap check, which needs no labels, before
    /// [`SeriesIndex::add`] for the few series new to a day.
    pub(crate) fn retain_missing(&self, tenant: Tenant, entries: &mut Vec<(Day, SeriesId)>) {
        let days = self.days.read();
        // A batch's samples are nearly always on one day: look its index up once.
        let mut last: Option<(Day, Option<&DayIndex>)> = None;
        entries.retain(|&(day, id)| {
            let index = match last {
                Some((d, index)) if d == day => index,
                _ => {
                    let index = days.get(&(tenant, day));
                    last = Some((day, index));
                    index
                }
            };
            !index.is_some_and(|d| d.contains(id))
        });
    }

    /// Ids (ascending, unique) of series matching all `matchers` with samples on any of `days`.
    pub(crate) fn select(
        &self,
        tenant: Tenant,
        days: RangeInclusive<Day>,
        matchers: &[Matcher],
    ) -> Vec<SeriesId> {
        let index = self.days.read();
        let mut out = Vec::new();
        let mut days_matched = 0;
        let mut add = |ids: Vec<SeriesId>| {
            days_matched += 1;
            if out.is_empty() {
                out = ids;
            } else {
                out.extend(ids);
            }
        };
        if days.end().saturating_sub(*days.start()) as usize > index.len() {
            // A very wide range: visit the days that exist rather than every day number.
            for ((t, day), d) in index.iter() {
                if *t == tenant && days.contains(day) {
                    add(d.matching(matchers));
                }
            }
        } else {
            for day in days {
                if let Some(d) = index.get(&(tenant, day)) {
                    add(d.matching(matchers));
                }
            }
        }
        // One day's ids are already ascending and unique.
        if days_matched > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Forgets deleted series everywhere.
    pub(crate) fn remove_series(&self, ids: &[SeriesId]) {
        let mut index = self.days.write();
        for d in index.values_mut() {
            for &id in ids {
                d.remove(id);
            }
        }
    }

    /// Drops whole days (retention), with their postings files.
    pub(crate) fn drop_days_before(&self, first_kept: Day) {
        let _persisting = self.persisting.lock();
        self.days.write().retain(|(_, day), _| *day >= first_kept);
        if let Err(e) = remove_files_except(&self.dir, |day| day >= first_kept) {
            tracing::warn!(error = %e, "could not remove expired postings files");
        }
    }

    /// Folds the series added to each day chosen by `policy` into its frozen layer and
    /// rewrites the day's postings file. Lookups and appends proceed meanwhile: the
    /// new layer is built outside the lock. Returns how many days were written.
    pub(crate) fn compact(&self, policy: CompactPolicy) -> Result<usize, StorageError> {
        let _persisting = self.persisting.lock();
        let mut due: Vec<Day> = self
            .days
            .read()
            .iter()
            .filter(|(_, d)| {
                let changed = d.changed_since_frozen();
                match policy {
                    CompactPolicy::Changed => changed > 0,
                    CompactPolicy::Grown => {
                        changed >= MIN_CHANGES_TO_COMPACT
                            && changed >= d.frozen().len() / GROWTH_FRACTION_TO_COMPACT
                    }
                }
            })
            .map(|((_, day), _)| *day)
            .collect();
        due.sort_unstable();
        due.dedup();
        for &day in &due {
            self.compact_day(day)?;
        }
        Ok(due.len())
    }

    fn compact_day(&self, day: Day) -> Result<(), StorageError> {
        let jobs: Vec<(Tenant, Compaction)> = self
            .days
            .write()
            .iter_mut()
            .filter(|((_, d), index)| *d == day && index.changed_since_frozen() > 0)
            .filter_map(|((tenant, _), index)| Some((*tenant, index.begin_compaction()?)))
            .collect();
        let built: Vec<Option<FrozenPostings>> = jobs
            .iter()
            .map(|(_, c)| match c.build() {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::error!(day, error = %e, "could not compact a day's postings");
                    None
                }
            })
            .collect();
        let sections: Vec<(Tenant, Arc<FrozenPostings>)> = {
            let mut days = self.days.write();
            for ((tenant, compaction), built) in jobs.iter().zip(built) {
                if let Some(index) = days.get_mut(&(*tenant, day)) {
                    index.finish_compaction(compaction, built);
                }
            }
            let mut sections: Vec<(Tenant, Arc<FrozenPostings>)> = days
                .iter()
                .filter(|((_, d), _)| *d == day)
                .map(|((tenant, _), index)| (*tenant, index.frozen().clone()))
                .collect();
            sections.sort_unstable_by_key(|(tenant, _)| *tenant);
            sections
        };
        if sections.is_empty() {
            return Ok(());
        }
        let refs: Vec<(Tenant, &FrozenPostings)> =
            sections.iter().map(|(t, f)| (*t, &**f)).collect();
        day_file::write(&self.dir, day, &refs)
    }
}

/// Removes the postings files (and interrupted writes' `.tmp` files) of the days
/// `keep` rejects.
fn remove_files_except(dir: &Path, keep: impl Fn(Day) -> bool) -> Result<(), StorageError> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let remove =
            name.ends_with(".tmp") || day_file::day_of_file(name).is_some_and(|d| !keep(d));
        if remove {
            day_file::remove(&entry.path())?;
        }
    }
    Ok(())
}
