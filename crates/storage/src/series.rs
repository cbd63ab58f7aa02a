//! The series registry: the persisted map between series ids and `(tenant, labels)`.
//!
//! Ids are global, dense-ish `u64`s assigned in creation order. The registry is an
//! append-only log (`index/series.log`) of CRC-framed records: "series created" and
//! "series deleted". It is fsynced before any part that references its ids is
//! committed, so a part never names an id the registry lost; entries lost from an
//! unsynced tail are re-created from the WAL, which carries full label sets.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use tidemark_model::{Labels, Tenant};

use crate::fsutil::io_err;
use crate::wire::{self, Frame, Reader};
use crate::StorageError;

pub(crate) type SeriesId = u64;

/// The identity of a live series.
#[derive(Debug)]
pub(crate) struct SeriesInfo {
    pub tenant: Tenant,
    pub labels: Labels,
}

const RECORD_CREATE: u8 = 1;
const RECORD_DELETE: u8 = 2;
const MAX_RECORD: usize = 16 << 20;

#[derive(Default)]
struct RegistryState {
    /// [`series_key`] of every live series → its id. The key is one contiguous byte
    /// string, so a lookup costs one hash and one `memcmp` instead of chasing a label
    /// set's separately allocated strings (that pointer chasing dominated ingest).
    by_key: FxHashMap<Box<[u8]>, SeriesId>,
    live: FxHashMap<SeriesId, Arc<SeriesInfo>>,
    deleted: HashSet<SeriesId>,
    next_id: SeriesId,
}

impl RegistryState {
    fn find(&self, key: &[u8]) -> Option<SeriesId> {
        self.by_key.get(key).copied()
    }

    fn insert(&mut self, id: SeriesId, tenant: Tenant, labels: Labels) {
        let key = with_series_key(tenant, &labels, |key| Box::<[u8]>::from(key));
        self.by_key.insert(key, id);
        self.live
            .insert(id, Arc::new(SeriesInfo { tenant, labels }));
        self.next_id = self.next_id.max(id + 1);
    }

    fn remove(&mut self, id: SeriesId) {
        if let Some(info) = self.live.remove(&id) {
            with_series_key(info.tenant, &info.labels, |key| {
                if self.by_key.get(key) == Some(&id) {
                    self.by_key.remove(key);
                }
            });
        }
        self.deleted.insert(id);
        self.next_id = self.next_id.max(id + 1);
    }
}

pub(crate) struct SeriesRegistry {
    path: PathBuf,
    state: RwLock<RegistryState>,
    log: Mutex<BufWriter<File>>,
}

/// What opening the registry found.
pub(crate) struct RegistryOpenReport {
    /// Bytes of a torn or corrupt tail that were cut off.
    pub truncated_bytes: u64,
    pub corrupt: bool,
}

impl SeriesRegistry {
    pub(crate) fn open(dir: &Path) -> Result<(SeriesRegistry, RegistryOpenReport), StorageError> {
        let path = dir.join("series.log");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut state = RegistryState {
            next_id: 1,
            ..Default::default()
        };
        let mut pos = 0usize;
        let mut corrupt = false;
        loop {
            match wire::read_frame(&data, &mut pos, MAX_RECORD) {
                Frame::Ok(payload) => {
                    if let Err(e) = apply_record(&mut state, payload) {
                        tracing::error!(file = %path.display(), error = %e, "undecodable series registry record");
                        corrupt = true;
                        break;
                    }
                }
                Frame::End => break,
                Frame::Corrupt(reason) => {
                    tracing::error!(file = %path.display(), offset = pos, reason, "corrupt series registry record");
                    corrupt = true;
                    break;
                }
            }
        }
        // A corrupt record can only be recovered by dropping it and what follows
        // (later records may depend on it); the WAL re-creates unflushed series.
        let truncated_bytes = (data.len() - pos) as u64;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if truncated_bytes > 0 {
            file.set_len(pos as u64).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        let registry = SeriesRegistry {
            path,
            state: RwLock::new(state),
            log: Mutex::new(BufWriter::new(file)),
        };
        Ok((
            registry,
            RegistryOpenReport {
                truncated_bytes,
                corrupt,
            },
        ))
    }

    /// The id of `(tenant, labels)`, creating the series if needed.
    pub(crate) fn get_or_create(
        &self,
        tenant: Tenant,
        labels: &Labels,
    ) -> Result<SeriesId, StorageError> {
        if let Some(id) = with_series_key(tenant, labels, |key| self.state.read().find(key)) {
            return Ok(id);
        }
        let mut state = self.state.write();
        if let Some(id) = with_series_key(tenant, labels, |key| state.find(key)) {
            return Ok(id);
        }
        let id = state.next_id;
        let mut rec = Vec::with_capacity(64);
        rec.push(RECORD_CREATE);
        wire::put_u64(&mut rec, id);
        wire::put_tenant(&mut rec, tenant);
        wire::put_labels(&mut rec, labels);
        self.write_record(&rec)?;
        state.insert(id, tenant, labels.clone());
        Ok(id)
    }

    pub(crate) fn lookup(&self, tenant: Tenant, labels: &Labels) -> Option<SeriesId> {
        with_series_key(tenant, labels, |key| self.state.read().find(key))
    }

    pub(crate) fn info(&self, id: SeriesId) -> Option<Arc<SeriesInfo>> {
        self.state.read().live.get(&id).cloned()
    }

    pub(crate) fn is_deleted(&self, id: SeriesId) -> bool {
        self.state.read().deleted.contains(&id)
    }

    /// Marks series deleted, durably. Their ids are never reused.
    pub(crate) fn delete(&self, ids: &[SeriesId]) -> Result<(), StorageError> {
        let mut state = self.state.write();
        for &id in ids {
            let mut rec = Vec::with_capacity(9);
            rec.push(RECORD_DELETE);
            wire::put_u64(&mut rec, id);
            self.write_record(&rec)?;
            state.remove(id);
        }
        drop(state);
        self.sync()
    }

    /// Ensures ids above `max_seen` are never handed out (ids may appear in parts
    /// written before a registry tail was lost).
    pub(crate) fn reserve_ids_through(&self, max_seen: SeriesId) {
        let mut state = self.state.write();
        state.next_id = state.next_id.max(max_seen + 1);
    }

    /// Live series of one tenant.
    pub(crate) fn live_series(&self, tenant: Tenant) -> Vec<Arc<SeriesInfo>> {
        self.state
            .read()
            .live
            .values()
            .filter(|i| i.tenant == tenant)
            .cloned()
            .collect()
    }

    pub(crate) fn live_count(&self) -> usize {
        self.state.read().live.len()
    }

    /// Writes buffered records and fsyncs the log.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        let mut log = self.log.lock();
        log.flush().map_err(io_err(&self.path))?;
        log.get_ref().sync_data().map_err(io_err(&self.path))
    }

    /// A consistent copy of the log for snapshots (the live file keeps growing, so it
    /// cannot be hard-linked).
    pub(crate) fn copy_to(&self, dest: &Path) -> Result<(), StorageError> {
        let mut log = self.log.lock();
        log.flush().map_err(io_err(&self.path))?;
        std::fs::copy(&self.path, dest).map_err(io_err(dest))?;
        Ok(())
    }

    fn write_record(&self, payload: &[u8]) -> Result<(), StorageError> {
        let mut frame = Vec::with_capacity(payload.len() + wire::FRAME_HEADER);
        wire::put_frame(&mut frame, payload);
        self.log
            .lock()
            .write_all(&frame)
            .map_err(io_err(&self.path))
    }
}

/// Runs `f` on the series key of `(tenant, labels)`: the tenant's two `u32`s, then
/// the labels' canonical bytes (`name 0xff value 0xff ...`, unambiguous because 0xff
/// never occurs in UTF-8). Built in a reused thread-local buffer because this runs
/// for every series of every append.
fn with_series_key<R>(tenant: Tenant, labels: &Labels, f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        // Taken out rather than borrowed, so `f` may build a key itself without a
        // RefCell double borrow.
        let mut key = std::mem::take(&mut *buf.borrow_mut());
        key.clear();
        key.extend_from_slice(&tenant.account_id.to_le_bytes());
        key.extend_from_slice(&tenant.project_id.to_le_bytes());
        labels.write_canonical(&mut key);
        let result = f(&key);
        *buf.borrow_mut() = key;
        result
    })
}

fn apply_record(state: &mut RegistryState, payload: &[u8]) -> Result<(), wire::WireError> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        RECORD_CREATE => {
            let id = r.u64()?;
            let tenant = r.tenant()?;
            let labels = r.labels()?;
            if !state.deleted.contains(&id) {
                state.insert(id, tenant, labels);
            }
        }
        RECORD_DELETE => {
            let id = r.u64()?;
            state.remove(id);
        }
        _ => {
            return Err(wire::WireError {
                offset: 0,
                reason: "unknown registry record kind",
            })
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_survive_reopen_and_deletes_are_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let t = Tenant::new(1, 2);
        let (ida, idb) = {
            let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
            let ida = reg.get_or_create(t, &a).unwrap();
            let idb = reg.get_or_create(t, &b).unwrap();
            assert_eq!(reg.get_or_create(t, &a).unwrap(), ida);
            assert_ne!(
                reg.get_or_create(Tenant::DEFAULT, &a).unwrap(),
                ida,
                "tenants are separate"
            );
            reg.delete(&[idb]).unwrap();
            reg.sync().unwrap();
            (ida, idb)
        };
        let (reg, report) = SeriesRegistry::open(dir.path()).unwrap();
        assert!(!report.corrupt);
        assert_eq!(reg.lookup(t, &a), Some(ida));
        assert_eq!(reg.lookup(t, &b), None);
        assert!(reg.is_deleted(idb));
        let new_b = reg.get_or_create(t, &b).unwrap();
        assert!(new_b > idb, "deleted ids are not reused");
    }

    #[test]
    fn torn_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
            reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "1")]))
                .unwrap();
            reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "2")]))
                .unwrap();
            reg.sync().unwrap();
        }
        let path = dir.path().join("series.log");
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (reg, report) = SeriesRegistry::open(dir.path()).unwrap();
        assert!(report.truncated_bytes > 0);
        assert_eq!(reg.live_count(), 1);
    }
}
