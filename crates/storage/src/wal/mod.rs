//! The segmented write-ahead log.
//!
//! Every append becomes one CRC-framed, zstd-compressed record carrying full label
//! sets, so replay needs nothing but the log itself. Segments are
//! `wal/<seq:020>.wal`; a flush seals the current segment, and once the flushed data
//! is committed to parts, `wal/checkpoint` records the last sealed segment and older
//! segments are deleted. Opening replays only segments after the checkpoint.
//!
//! Group commit: writers append under a short lock, then wait in [`Wal::sync_through`];
//! one fsync covers every record written before it started, so concurrent writers
//! share fsyncs instead of queueing one each.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tidemark_model::{Labels, Tenant};

use crate::fsutil::{self, io_err};
use crate::series::SeriesId;
use crate::wire::{self, Frame};
use crate::StorageError;

mod record;

use record::{SegmentDefinitions, SegmentSeries};
pub(crate) use record::{SeriesEntry, WalRecord};

/// A new segment is started before an append once the current one has reached this.
const MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// Upper bound for one record; larger appends are rejected before they reach the log.
pub(crate) const MAX_RECORD_BYTES: usize = 256 << 20;
/// zstd's fastest regular mode: no Huffman coding of literals. Every append compresses
/// its record, and on one scrape's record (~940 series) this took about a fifth less
/// CPU than level 1 for ~9% more bytes; WAL segments live only until the next flush,
/// so CPU matters more than their size. Records of any level decode alike.
const WAL_ZSTD_LEVEL: i32 = -1;

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, StorageError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn read_checkpoint(dir: &Path) -> Result<u64, StorageError> {
    let path = dir.join("checkpoint");
    if !path.exists() {
        return Ok(0);
    }
    let data = fsutil::read_checksummed(&path)?;
    let bytes: [u8; 8] = data
        .as_slice()
        .try_into()
        .map_err(|_| fsutil::corrupt(&path, 0, "checkpoint has the wrong size"))?;
    Ok(u64::from_le_bytes(bytes))
}

struct Writer {
    file: Arc<File>,
    segment: u64,
    segment_bytes: u64,
    /// Records written so far (a logical clock for group commit).
    written: u64,
    /// Series whose labels the current segment already holds.
    segment_series: SegmentSeries,
    /// Reused per append: one compression context and encode buffers instead of
    /// allocating them for every record.
    compressor: zstd::bulk::Compressor<'static>,
    raw: Vec<u8>,
    frame: Vec<u8>,
    newly_defined: Vec<SeriesId>,
}

pub(crate) struct Wal {
    dir: PathBuf,
    fsync_on_rotate: bool,
    writer: Mutex<Writer>,
    /// Records known durable; the lock also serialises fsyncs.
    durable: Mutex<u64>,
    total_bytes: AtomicU64,
    fsyncs: AtomicU64,
}

/// What replay found, for logging and metrics.
#[derive(Debug, Default)]
pub(crate) struct ReplayReport {
    pub records: u64,
    pub segments: u64,
    pub corrupt_records: u64,
}

impl Wal {
    /// Replays every record after the checkpoint through `apply`, then starts a fresh
    /// segment for new appends.
    pub(crate) fn open(
        dir: &Path,
        fsync_on_rotate: bool,
        mut apply: impl FnMut(WalRecord) -> Result<(), StorageError>,
    ) -> Result<(Wal, ReplayReport), StorageError> {
        fsutil::create_dir_all(dir)?;
        let checkpoint = read_checkpoint(dir)?;
        let segments = list_segments(dir)?;
        let mut report = ReplayReport::default();
        let mut total_bytes = 0u64;
        for &seq in &segments {
            let path = segment_path(dir, seq);
            if seq <= checkpoint {
                // Already in parts; a crash hit between checkpoint and deletion.
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let data = fs::read(&path).map_err(io_err(&path))?;
            report.segments += 1;
            let mut defs = SegmentDefinitions::default();
            let mut pos = 0usize;
            loop {
                let at = pos;
                match wire::read_frame(&data, &mut pos, MAX_RECORD_BYTES) {
                    Frame::Ok(stored) => {
                        let decoded = zstd::stream::decode_all(stored)
                            .map_err(|_| "not a zstd frame")
                            .and_then(|raw| record::decode(&raw, &mut defs).map_err(|e| e.reason));
                        match decoded {
                            Ok(rec) => {
                                report.records += 1;
                                apply(rec)?;
                            }
                            Err(reason) => {
                                // The checksum matched, so this is a writer bug, not bit rot:
                                // skip the record and keep the rest.
                                report.corrupt_records += 1;
                                tracing::error!(file = %path.display(), offset = at, reason, "undecodable WAL record skipped");
                            }
                        }
                    }
                    Frame::End => break,
                    Frame::Corrupt(reason) => {
                        // Framing is lost: nothing after this point can be trusted.
                        report.corrupt_records += 1;
                        tracing::error!(file = %path.display(), offset = at, reason, "corrupt WAL record; rest of segment dropped");
                        break;
                    }
                }
            }
            if pos < data.len() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(pos as u64).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
            }
            total_bytes += pos as u64;
        }
        let next = segments.last().copied().unwrap_or(0).max(checkpoint) + 1;
        let file = Self::create_segment(dir, next)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            fsync_on_rotate,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                segment: next,
                segment_bytes: 0,
                written: 0,
                segment_series: SegmentSeries::default(),
                compressor: zstd::bulk::Compressor::new(WAL_ZSTD_LEVEL).map_err(io_err(dir))?,
                raw: Vec::new(),
                frame: Vec::new(),
                newly_defined: Vec::new(),
            }),
            durable: Mutex::new(0),
            total_bytes: AtomicU64::new(total_bytes),
            fsyncs: AtomicU64::new(0),
        };
        Ok((wal, report))
    }

    fn create_segment(dir: &Path, seq: u64) -> Result<File, StorageError> {
        let path = segment_path(dir, seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        fsutil::sync_dir(dir)?;
        Ok(file)
    }

    /// Writes a samples record (not yet durable); returns its clock value for
    /// [`Wal::sync_through`]. Encoding happens under the writer lock because whether a
    /// series' labels must be written depends on what the segment already holds.
    pub(crate) fn append_samples(
        &self,
        tenant: Tenant,
        series: &[SeriesEntry<'_>],
    ) -> Result<u64, StorageError> {
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.rotate_if_full(w)?;
        let mut newly_defined = std::mem::take(&mut w.newly_defined);
        newly_defined.clear();
        record::encode_samples(
            &mut w.raw,
            &mut w.segment_series,
            tenant,
            series,
            &mut newly_defined,
        );
        let written = self.write_record(w);
        if written.is_err() {
            w.segment_series.forget(&newly_defined);
        }
        w.newly_defined = newly_defined;
        written
    }

    /// Writes a record that `encode` builds (into a cleared buffer) under the writer
    /// lock; not yet durable, see [`Wal::append_samples`]. Used by record kinds that
    /// need no per-segment state (histogram samples).
    pub(crate) fn append_encoded(
        &self,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, StorageError> {
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.rotate_if_full(w)?;
        w.raw.clear();
        encode(&mut w.raw);
        self.write_record(w)
    }

    /// Writes a delete record (not yet durable); see [`Wal::append_samples`].
    pub(crate) fn append_delete(
        &self,
        tenant: Tenant,
        series: &[Labels],
    ) -> Result<u64, StorageError> {
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.rotate_if_full(w)?;
        record::encode_delete(&mut w.raw, tenant, series);
        self.write_record(w)
    }

    fn rotate_if_full(&self, w: &mut Writer) -> Result<(), StorageError> {
        if w.segment_bytes >= MAX_SEGMENT_BYTES {
            self.rotate_locked(w)?;
        }
        Ok(())
    }

    /// Compresses, frames and writes `w.raw` to the current segment.
    fn write_record(&self, w: &mut Writer) -> Result<u64, StorageError> {
        let stored = w.compressor.compress(&w.raw).map_err(io_err(&self.dir))?;
        if stored.len() > MAX_RECORD_BYTES {
            return Err(StorageError::Invalid(format!(
                "batch too large for one WAL record ({} compressed bytes)",
                stored.len()
            )));
        }
        w.frame.clear();
        wire::put_frame(&mut w.frame, &stored);
        let path = segment_path(&self.dir, w.segment);
        (&*w.file).write_all(&w.frame).map_err(io_err(&path))?;
        let len = w.frame.len() as u64;
        w.segment_bytes += len;
        w.written += 1;
        self.total_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(w.written)
    }

    /// Returns once record `clock` (and all before it) is on stable storage.
    pub(crate) fn sync_through(&self, clock: u64) -> Result<(), StorageError> {
        let mut durable = self.durable.lock();
        if *durable >= clock {
            return Ok(());
        }
        let (file, segment, written) = {
            let w = self.writer.lock();
            (w.file.clone(), w.segment, w.written)
        };
        file.sync_data()
            .map_err(io_err(&segment_path(&self.dir, segment)))?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        // Records in earlier segments were fsynced when those segments were sealed.
        *durable = written;
        Ok(())
    }

    /// fsyncs everything written so far.
    pub(crate) fn sync_all(&self) -> Result<(), StorageError> {
        let clock = self.writer.lock().written;
        self.sync_through(clock)
    }

    /// Seals the current segment and starts a new one; returns the sealed segment number.
    /// Callers hold the ingest gate exclusively so the seal cleanly splits the buffer.
    pub(crate) fn seal(&self) -> Result<u64, StorageError> {
        let mut w = self.writer.lock();
        let sealed = w.segment;
        self.rotate_locked(&mut w)?;
        Ok(sealed)
    }

    fn rotate_locked(&self, w: &mut Writer) -> Result<(), StorageError> {
        if self.fsync_on_rotate {
            w.file
                .sync_data()
                .map_err(io_err(&segment_path(&self.dir, w.segment)))?;
        }
        let next = w.segment + 1;
        w.file = Arc::new(Self::create_segment(&self.dir, next)?);
        w.segment = next;
        w.segment_bytes = 0;
        w.segment_series.clear();
        Ok(())
    }

    /// Records that segments up to `sealed` are in committed parts, then deletes them.
    pub(crate) fn checkpoint(&self, sealed: u64) -> Result<(), StorageError> {
        fsutil::write_checksummed_atomic(&self.dir.join("checkpoint"), &sealed.to_le_bytes())?;
        for seq in list_segments(&self.dir)? {
            if seq > sealed {
                break;
            }
            let path = segment_path(&self.dir, seq);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path).map_err(io_err(&path))?;
            self.total_bytes.fetch_sub(
                len.min(self.total_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        Ok(())
    }

    /// Whether anything was written to the current segment.
    pub(crate) fn current_segment_is_empty(&self) -> bool {
        self.writer.lock().segment_bytes == 0
    }

    /// fsyncs issued so far; with group commit, fewer than the appends they cover.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.total_bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::Sample;

    /// Appends samples of one series (id 1) and returns the clock and the record replay
    /// must produce.
    fn append_record(wal: &Wal, v: f64) -> (u64, WalRecord) {
        let labels = Labels::from_pairs([("__name__", "m")]);
        let samples = vec![Sample::new(1, v), Sample::new(2, tidemark_model::STALE_NAN)];
        let clock = wal
            .append_samples(Tenant::new(3, 4), &[(1, &[("__name__", "m")], &samples)])
            .unwrap();
        (
            clock,
            WalRecord::Samples {
                tenant: Tenant::new(3, 4),
                series: vec![(labels, samples)],
            },
        )
    }

    fn replay(dir: &Path) -> (Vec<WalRecord>, ReplayReport) {
        let mut got = Vec::new();
        let (_wal, report) = Wal::open(dir, true, |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        (got, report)
    }

    #[test]
    fn records_replay_until_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true, |_| Ok(())).unwrap();
        let (c, rec1) = append_record(&wal, 1.0);
        wal.sync_through(c).unwrap();
        let sealed = wal.seal().unwrap();
        // The new segment must define the series again to replay on its own.
        let (_, rec2) = append_record(&wal, 2.0);
        wal.sync_all().unwrap();
        drop(wal);
        let (got, _) = replay(dir.path());
        assert_eq!(got, vec![rec1, rec2.clone_record()]);
        let (wal, _) = Wal::open(dir.path(), true, |_| Ok(())).unwrap();
        wal.checkpoint(sealed).unwrap();
        drop(wal);
        let (got, _) = replay(dir.path());
        assert_eq!(got, vec![rec2]);
    }

    #[test]
    fn torn_tail_is_dropped_and_corruption_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), true, |_| Ok(())).unwrap();
        let (_, rec) = append_record(&wal, 1.0);
        append_record(&wal, 1.0);
        wal.sync_all().unwrap();
        drop(wal);
        let seg = list_segments(dir.path()).unwrap()[0];
        let path = segment_path(dir.path(), seg);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let (got, report) = replay(dir.path());
        assert_eq!(got, vec![rec]);
        assert_eq!(report.corrupt_records, 0, "a torn tail is not corruption");
        // Flip a payload byte of the remaining record.
        let seg = list_segments(dir.path()).unwrap()[0];
        let path = segment_path(dir.path(), seg);
        let mut data = fs::read(&path).unwrap();
        data[wire::FRAME_HEADER + 2] ^= 0xff;
        fs::write(&path, data).unwrap();
        let (got, report) = replay(dir.path());
        assert!(got.is_empty());
        assert_eq!(report.corrupt_records, 1);
    }

    impl WalRecord {
        fn clone_record(&self) -> WalRecord {
            match self {
                WalRecord::Samples { tenant, series } => WalRecord::Samples {
                    tenant: *tenant,
                    series: series.clone(),
                },
                WalRecord::Delete { tenant, series } => WalRecord::Delete {
                    tenant: *tenant,
                    series: series.clone(),
                },
                WalRecord::Histograms { tenant, series } => WalRecord::Histograms {
                    tenant: *tenant,
                    series: series.clone(),
                },
            }
        }
    }
}
