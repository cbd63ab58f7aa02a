//! Time-range deletion: `(series, [mint, maxt])` tombstones, as Prometheus'
//! `delete_series` with `start`/`end` creates.
//!
//! Deleting a whole series retires its id (see [`crate::series`]); deleting only a time
//! range cannot, so the range is recorded here and applied wherever samples are read:
//! every select drops tombstoned samples, and every merge that rewrites the series
//! leaves them out of the new part. Tombstones stay in force afterwards, so samples
//! appended later into a deleted range are hidden too (the range stays deleted).
//!
//! Persisted in `index/tombstones.log`, an append-only log of CRC-framed records
//! (`series id u64, mint i64, maxt i64`), fsynced before a delete returns. A torn or
//! corrupt tail is cut off at open, like the series registry's.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use tidemark_model::{HistogramSample, Matcher, Sample, Tenant};

use crate::engine::Engine;
use crate::fsutil::io_err;
use crate::series::SeriesId;
use crate::time;
use crate::wire::{self, Frame, Reader};
use crate::StorageError;

pub(crate) const TOMBSTONES_FILE: &str = "tombstones.log";
const RECORD_LEN: usize = 24;

/// Deleted `[mint, maxt]` ranges (inclusive, milliseconds) per series.
pub(crate) struct Tombstones {
    path: PathBuf,
    ranges: RwLock<FxHashMap<SeriesId, Vec<(i64, i64)>>>,
    log: Mutex<BufWriter<File>>,
}

impl Tombstones {
    pub(crate) fn open(index_dir: &Path) -> Result<Tombstones, StorageError> {
        let path = index_dir.join(TOMBSTONES_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut ranges: FxHashMap<SeriesId, Vec<(i64, i64)>> = FxHashMap::default();
        let mut pos = 0;
        loop {
            match wire::read_frame(&data, &mut pos, RECORD_LEN) {
                Frame::Ok(payload) => match decode(payload) {
                    Some((id, mint, maxt)) => add_range(&mut ranges, id, mint, maxt),
                    None => {
                        tracing::error!(file = %path.display(), offset = pos, "undecodable tombstone record; tail dropped");
                        break;
                    }
                },
                Frame::End => break,
                Frame::Corrupt(reason) => {
                    tracing::error!(file = %path.display(), offset = pos, reason, "corrupt tombstone record; tail dropped");
                    break;
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if pos < data.len() {
            file.set_len(pos as u64).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        Ok(Tombstones {
            path,
            ranges: RwLock::new(ranges),
            log: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Records `[mint, maxt]` as deleted for every id, durably.
    pub(crate) fn add(&self, ids: &[SeriesId], mint: i64, maxt: i64) -> Result<(), StorageError> {
        let mut log = self.log.lock();
        let mut frame = Vec::with_capacity(ids.len() * (RECORD_LEN + wire::FRAME_HEADER));
        for &id in ids {
            let mut rec = Vec::with_capacity(RECORD_LEN);
            wire::put_u64(&mut rec, id);
            wire::put_i64(&mut rec, mint);
            wire::put_i64(&mut rec, maxt);
            wire::put_frame(&mut frame, &rec);
        }
        log.write_all(&frame).map_err(io_err(&self.path))?;
        log.flush().map_err(io_err(&self.path))?;
        log.get_ref().sync_data().map_err(io_err(&self.path))?;
        // Readers see the ranges only once they are durable.
        let mut ranges = self.ranges.write();
        for &id in ids {
            add_range(&mut ranges, id, mint, maxt);
        }
        Ok(())
    }

    /// Removes the samples of `id` that fall in a deleted range.
    pub(crate) fn apply(&self, id: SeriesId, samples: &mut Vec<Sample>) {
        let ranges = self.ranges.read();
        let Some(deleted) = ranges.get(&id) else {
            return;
        };
        samples.retain(|s| {
            !deleted
                .iter()
                .any(|&(mint, maxt)| (mint..=maxt).contains(&s.timestamp))
        });
    }

    /// [`Tombstones::apply`] for native histogram samples.
    pub(crate) fn apply_histograms(&self, id: SeriesId, samples: &mut Vec<HistogramSample>) {
        let ranges = self.ranges.read();
        let Some(deleted) = ranges.get(&id) else {
            return;
        };
        samples.retain(|s| {
            !deleted
                .iter()
                .any(|&(mint, maxt)| (mint..=maxt).contains(&s.timestamp))
        });
    }

    /// A consistent copy of the log into `index_dir` (for snapshots).
    pub(crate) fn copy_to(&self, index_dir: &Path) -> Result<(), StorageError> {
        let mut log = self.log.lock();
        log.flush().map_err(io_err(&self.path))?;
        let dest = index_dir.join(TOMBSTONES_FILE);
        std::fs::copy(&self.path, &dest).map_err(io_err(&dest))?;
        Ok(())
    }
}

fn decode(payload: &[u8]) -> Option<(SeriesId, i64, i64)> {
    let mut r = Reader::new(payload);
    let rec = (r.u64().ok()?, r.i64().ok()?, r.i64().ok()?);
    r.is_empty().then_some(rec)
}

/// Adds a range, merging it with ranges it overlaps or touches, so the list per series
/// stays short however often the same span is deleted.
fn add_range(
    ranges: &mut FxHashMap<SeriesId, Vec<(i64, i64)>>,
    id: SeriesId,
    mint: i64,
    maxt: i64,
) {
    let list = ranges.entry(id).or_default();
    let (mut lo, mut hi) = (mint, maxt);
    list.retain(|&(a, b)| {
        let joins = a <= hi.saturating_add(1) && lo <= b.saturating_add(1);
        if joins {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        !joins
    });
    list.push((lo, hi));
}

impl Engine {
    /// Deletes the samples in `[mint, maxt]` of every series matching `matchers`;
    /// returns how many series had data on the days of that range.
    pub(crate) fn delete_range(
        &self,
        tenant: Tenant,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<u64, StorageError> {
        self.check_open()?;
        if matchers.is_empty() {
            return Err(StorageError::Invalid(
                "delete_series needs at least one matcher".into(),
            ));
        }
        if mint > maxt {
            return Err(StorageError::Invalid(format!(
                "delete range start {mint} is after its end {maxt}"
            )));
        }
        let ids = self
            .index
            .select(tenant, time::days_in(mint, maxt), matchers);
        if ids.is_empty() {
            return Ok(0);
        }
        self.tombstones.add(&ids, mint, maxt)?;
        Ok(ids.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(ts: &[i64]) -> Vec<Sample> {
        ts.iter().map(|&t| Sample::new(t, t as f64)).collect()
    }

    #[test]
    fn ranges_hide_samples_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let t = Tombstones::open(dir.path()).unwrap();
            t.add(&[7, 8], 10, 20).unwrap();
            t.add(&[7], 40, 50).unwrap();
        }
        let t = Tombstones::open(dir.path()).unwrap();
        let mut s = samples(&[5, 10, 15, 20, 25, 40, 55]);
        t.apply(7, &mut s);
        assert_eq!(s, samples(&[5, 25, 55]));
        let mut s = samples(&[5, 10, 40]);
        t.apply(8, &mut s);
        assert_eq!(s, samples(&[5, 40]));
        let mut s = samples(&[10]);
        t.apply(9, &mut s);
        assert_eq!(s, samples(&[10]), "other series are untouched");
    }

    #[test]
    fn overlapping_ranges_merge() {
        let mut m = FxHashMap::default();
        add_range(&mut m, 1, 10, 20);
        add_range(&mut m, 1, 30, 40);
        add_range(&mut m, 1, 21, 29);
        assert_eq!(m[&1], vec![(10, 40)]);
        add_range(&mut m, 1, 100, 200);
        add_range(&mut m, 1, i64::MIN, 5);
        let mut got = m[&1].clone();
        got.sort();
        assert_eq!(got, vec![(i64::MIN, 5), (10, 40), (100, 200)]);
    }

    #[test]
    fn deleted_ranges_stay_deleted_through_flush_merge_and_reopen() {
        use crate::{Storage, StorageOptions};
        use tidemark_model::{Labels, TimeSeries};

        let dir = tempfile::tempdir().unwrap();
        let opts = StorageOptions {
            path: dir.path().to_path_buf(),
            ..StorageOptions::default()
        };
        let now = time::now_ms() / 1000 * 1000;
        let series = |name: &str| {
            TimeSeries::new(
                Labels::from_pairs([("__name__", name)]),
                (0..10)
                    .map(|k| Sample::new(now - 9_000 + k * 1000, k as f64))
                    .collect(),
            )
        };
        let m = [Matcher::equal("__name__", "a")];
        let kept = |s: &Storage| -> Vec<i64> {
            s.select(Tenant::DEFAULT, &m, i64::MIN / 2, i64::MAX / 2)
                .unwrap()
                .iter()
                .flat_map(|ts| ts.samples.iter().map(|x| x.timestamp))
                .collect()
        };
        let want: Vec<i64> = (0..10)
            .filter(|k| !(3..=5).contains(k))
            .map(|k| now - 9_000 + k * 1000)
            .collect();
        {
            let s = Storage::open(opts.clone()).unwrap();
            s.append(Tenant::DEFAULT, &[series("a"), series("b")])
                .unwrap();
            s.flush().unwrap();
            // A second part, so the forced merge below rewrites the series.
            s.append(Tenant::DEFAULT, &[series("a")]).unwrap();
            let n = s
                .delete_range(Tenant::DEFAULT, &m, now - 6_000, now - 4_000)
                .unwrap();
            assert_eq!(n, 1);
            assert_eq!(kept(&s), want, "buffered and flushed samples are hidden");
            s.force_merge().unwrap();
            assert_eq!(kept(&s), want, "and stay so after a merge");
            let b = [Matcher::equal("__name__", "b")];
            let other = s
                .select(Tenant::DEFAULT, &b, i64::MIN / 2, i64::MAX / 2)
                .unwrap();
            assert_eq!(other[0].samples.len(), 10, "series b is untouched");
            s.close().unwrap();
        }
        let s = Storage::open(opts).unwrap();
        assert_eq!(kept(&s), want, "tombstones survive a restart");
        let err = s.delete_range(Tenant::DEFAULT, &m, 10, 5).unwrap_err();
        assert!(matches!(err, StorageError::Invalid(_)));
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        {
            let t = Tombstones::open(dir.path()).unwrap();
            t.add(&[1], 0, 10).unwrap();
            t.add(&[2], 0, 10).unwrap();
        }
        let path = dir.path().join(TOMBSTONES_FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let t = Tombstones::open(dir.path()).unwrap();
        let mut s = samples(&[5]);
        t.apply(1, &mut s);
        assert!(s.is_empty(), "the intact record still applies");
        let mut s = samples(&[5]);
        t.apply(2, &mut s);
        assert_eq!(s, samples(&[5]), "the torn record is gone");
        t.add(&[3], 0, 10).unwrap();
        drop(t);
        let t = Tombstones::open(dir.path()).unwrap();
        let mut s = samples(&[5]);
        t.apply(3, &mut s);
        assert!(s.is_empty(), "appends after the cut are readable");
    }
}
