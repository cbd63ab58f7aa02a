//! The set of live parts, grouped by day partition (`data/<YYYY-MM-DD>/<part>/`).
//!
//! Readers take a cheap snapshot (`Arc`s); merges and retention swap parts in and out
//! under a short write lock. Files of a removed part stay readable by snapshots still
//! holding it because the part keeps its file handle open.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::fsutil::{self, io_err};
use crate::part::{Part, DELETING_PREFIX, TMP_PREFIX};
use crate::time::{self, Day};
use crate::StorageError;

pub(crate) struct Partitions {
    data_dir: PathBuf,
    quarantine_dir: PathBuf,
    parts: RwLock<BTreeMap<Day, Vec<Arc<Part>>>>,
}

/// What opening found on disk.
#[derive(Debug, Default)]
pub(crate) struct PartitionsOpenReport {
    pub max_part_seq: u64,
    pub max_series_id: u64,
    /// Parts moved to quarantine because their metadata or index failed verification.
    pub quarantined: Vec<(PathBuf, String)>,
}

impl Partitions {
    pub(crate) fn open(
        data_dir: &Path,
        quarantine_dir: &Path,
    ) -> Result<(Partitions, PartitionsOpenReport), StorageError> {
        fsutil::create_dir_all(data_dir)?;
        fsutil::create_dir_all(quarantine_dir)?;
        let mut report = PartitionsOpenReport::default();
        let mut parts: BTreeMap<Day, Vec<Arc<Part>>> = BTreeMap::new();
        for entry in fs::read_dir(data_dir).map_err(io_err(data_dir))? {
            let entry = entry.map_err(io_err(data_dir))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(DELETING_PREFIX) {
                // A partition whose deletion a crash interrupted.
                remove_tree(&entry.path())?;
                continue;
            }
            let Some(day) = name.to_str().and_then(time::parse_partition_dir_name) else {
                tracing::warn!(path = %entry.path().display(), "ignoring unexpected entry in data directory");
                continue;
            };
            let loaded = Self::open_partition(&entry.path(), quarantine_dir, &mut report)?;
            if !loaded.is_empty() {
                parts.insert(day, loaded);
            }
        }
        // Drop inputs of merges whose output was committed before a crash let them be
        // deleted. Merges never cross partitions, so the check is per partition.
        for list in parts.values_mut() {
            let replaced: HashSet<u64> = list
                .iter()
                .flat_map(|p| p.meta.replaces.iter().copied())
                .collect();
            let (gone, kept): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|p| replaced.contains(&p.meta.seq));
            for p in gone {
                remove_tree(&p.dir)?;
            }
            *list = kept;
        }
        parts.retain(|_, v| !v.is_empty());
        for p in parts.values().flatten() {
            report.max_part_seq = report.max_part_seq.max(p.meta.seq);
            report.max_series_id = report.max_series_id.max(p.meta.max_series_id);
        }
        let partitions = Partitions {
            data_dir: data_dir.to_path_buf(),
            quarantine_dir: quarantine_dir.to_path_buf(),
            parts: RwLock::new(parts),
        };
        Ok((partitions, report))
    }

    fn open_partition(
        dir: &Path,
        quarantine_dir: &Path,
        report: &mut PartitionsOpenReport,
    ) -> Result<Vec<Arc<Part>>, StorageError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) || name.starts_with(DELETING_PREFIX) {
                // An unfinished part, or one whose deletion was interrupted: never
                // visible (again), safe to remove.
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                continue;
            }
            match Part::open(&path) {
                Ok(p) => out.push(Arc::new(p)),
                Err(StorageError::Corrupt {
                    file,
                    offset,
                    reason,
                }) => {
                    let why = format!("{} at offset {offset}: {reason}", file.display());
                    tracing::error!(part = %path.display(), reason = %why, "quarantining corrupt part");
                    move_to_quarantine(&path, quarantine_dir)?;
                    report.quarantined.push((path, why));
                }
                Err(StorageError::Io { path: p, source })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::error!(part = %path.display(), missing = %p.display(), "quarantining incomplete part");
                    move_to_quarantine(&path, quarantine_dir)?;
                    report
                        .quarantined
                        .push((path, format!("missing {}", p.display())));
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by_key(|p| p.meta.seq);
        Ok(out)
    }

    pub(crate) fn partition_dir(&self, day: Day) -> PathBuf {
        self.data_dir.join(time::partition_dir_name(day))
    }

    /// Parts of the days overlapping `[start, end]`.
    pub(crate) fn parts_between(&self, start: i64, end: i64) -> Vec<Arc<Part>> {
        let days = time::days_in(start, end);
        self.parts
            .read()
            .range(days)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }

    /// Every partition with its parts.
    pub(crate) fn all(&self) -> Vec<(Day, Vec<Arc<Part>>)> {
        self.parts
            .read()
            .iter()
            .map(|(d, v)| (*d, v.clone()))
            .collect()
    }

    pub(crate) fn add(&self, day: Day, part: Part) {
        self.parts
            .write()
            .entry(day)
            .or_default()
            .push(Arc::new(part));
    }

    /// Swaps merged inputs for their output, then deletes the inputs from disk.
    pub(crate) fn replace(
        &self,
        day: Day,
        inputs: &[Arc<Part>],
        output: Option<Part>,
    ) -> Result<(), StorageError> {
        {
            let mut parts = self.parts.write();
            let list = parts.entry(day).or_default();
            list.retain(|p| !inputs.iter().any(|i| Arc::ptr_eq(i, p)));
            if let Some(out) = output {
                list.push(Arc::new(out));
            }
            if list.is_empty() {
                parts.remove(&day);
            }
        }
        for p in inputs {
            remove_tree(&p.dir)?;
        }
        fsutil::sync_dir(&self.partition_dir(day))
    }

    /// Takes the part whose directory is `part_dir` out of service and moves it aside.
    /// Returns false when no live part has that directory (already quarantined or merged).
    pub(crate) fn quarantine(&self, part_dir: &Path) -> Result<bool, StorageError> {
        let removed = {
            let mut parts = self.parts.write();
            let mut found = false;
            for list in parts.values_mut() {
                let before = list.len();
                list.retain(|p| p.dir != part_dir);
                found |= list.len() != before;
            }
            parts.retain(|_, v| !v.is_empty());
            found
        };
        if removed {
            move_to_quarantine(part_dir, &self.quarantine_dir)?;
        }
        Ok(removed)
    }

    /// Deletes whole partitions for which `expired(day)` holds; returns how many.
    pub(crate) fn drop_partitions(
        &self,
        expired: impl Fn(Day) -> bool,
    ) -> Result<usize, StorageError> {
        let doomed: Vec<Day> = self
            .parts
            .read()
            .keys()
            .copied()
            .filter(|d| expired(*d))
            .collect();
        {
            let mut parts = self.parts.write();
            for d in &doomed {
                parts.remove(d);
            }
        }
        // Also remove partition directories left empty or holding only temp dirs.
        let mut dirs: Vec<Day> = doomed.clone();
        if let Ok(entries) = fs::read_dir(&self.data_dir) {
            for e in entries.flatten() {
                if let Some(day) = e
                    .file_name()
                    .to_str()
                    .and_then(time::parse_partition_dir_name)
                {
                    if expired(day) && !dirs.contains(&day) {
                        dirs.push(day);
                    }
                }
            }
        }
        for d in &dirs {
            let dir = self.partition_dir(*d);
            if dir.exists() {
                remove_tree(&dir)?;
            }
        }
        if !dirs.is_empty() {
            fsutil::sync_dir(&self.data_dir)?;
        }
        Ok(doomed.len())
    }
}

fn move_to_quarantine(part_dir: &Path, quarantine_dir: &Path) -> Result<(), StorageError> {
    let name_of = |p: Option<&Path>| {
        p.and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    let base = format!(
        "{}-{}",
        name_of(part_dir.parent()).unwrap_or_default(),
        name_of(Some(part_dir)).unwrap_or_default()
    );
    let mut dest = quarantine_dir.join(&base);
    let mut n = 1;
    while dest.exists() {
        dest = quarantine_dir.join(format!("{base}.{n}"));
        n += 1;
    }
    fs::rename(part_dir, &dest).map_err(io_err(part_dir))?;
    fsutil::sync_dir(quarantine_dir)
}

/// Deletes a part or partition directory so that a crash midway never leaves a
/// half-deleted directory that looks like a damaged part: first an atomic rename to
/// a `.deleting-` name (which open finishes removing), then the recursive delete.
fn remove_tree(dir: &Path) -> Result<(), StorageError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doomed = if name.starts_with(DELETING_PREFIX) {
        dir.to_path_buf()
    } else {
        let doomed = dir.with_file_name(format!("{DELETING_PREFIX}{name}"));
        fs::rename(dir, &doomed).map_err(io_err(dir))?;
        doomed
    };
    fs::remove_dir_all(&doomed).map_err(io_err(&doomed))
}
