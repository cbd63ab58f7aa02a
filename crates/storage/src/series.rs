//! The series registry: the persisted map between series ids and `(tenant, labels)`.
//!
//! Ids are global, dense-ish `u64`s assigned in creation order. The registry is a
//! compacted snapshot (`index/series.snap`, see [`registry_snapshot`]) plus an
//! append-only log (`index/series.log`) of CRC-framed records written since:
//! "series created" and "series deleted". The log is fsynced before any part that
//! references its ids is committed, so a part never names an id the registry lost;
//! entries lost from an unsynced tail are re-created from the WAL, which carries full
//! label sets.
//!
//! Compaction writes a new snapshot of the whole state (fsynced and renamed into
//! place) and only then drops the log records it covers, so at every instant the
//! snapshot plus the log hold every durable record. Replaying records the snapshot
//! already covers (after a crash between those two steps) changes nothing.

mod info_cache;
pub(crate) mod key;
mod label_order;
mod live;

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tidemark_model::{Labels, Tenant};

use info_cache::InfoCache;
use live::RegistryState;

pub(crate) use label_order::sort_by_labels;

use crate::fsutil::{self, io_err};
use crate::index::registry_snapshot::{self, RegistrySnapshot};
use crate::wire::{self, Frame, Reader};
use crate::StorageError;

pub(crate) type SeriesId = u64;

/// The identity of a live series, decoded from its stored key on request.
#[derive(Debug)]
pub(crate) struct SeriesInfo {
    pub tenant: Tenant,
    /// Shared, so a select hands a series' labels to the query without copying them.
    pub labels: Arc<Labels>,
}

const RECORD_CREATE: u8 = 1;
const RECORD_DELETE: u8 = 2;
const MAX_RECORD: usize = 16 << 20;
const LOG_FILE: &str = "series.log";
const SNAPSHOT_FILE: &str = "series.snap";
/// [`SeriesRegistry::compact_if_grown`] compacts once the log holds this many times
/// the snapshot's bytes (log records are ~20× larger than their snapshotted form, so
/// this is a steady fraction of new series, keeping compaction cost amortised O(1)
/// per series) and at least [`MIN_LOG_BYTES_TO_COMPACT`].
const LOG_TO_SNAPSHOT_RATIO: u64 = 4;
const MIN_LOG_BYTES_TO_COMPACT: u64 = 1 << 20;

pub(crate) struct SeriesRegistry {
    /// The `index/` directory.
    dir: PathBuf,
    /// `dir/series.log`.
    path: PathBuf,
    state: RwLock<RegistryState>,
    /// Decoded identities of recently asked ids, so repeated queries skip the decode.
    infos: InfoCache,
    log: Mutex<RegistryLog>,
    /// Held by compaction and by snapshot copies, which must not see the snapshot
    /// replaced between copying it and copying the log.
    compaction: Mutex<()>,
}

/// The open log and its length in bytes (including buffered records).
struct RegistryLog {
    writer: BufWriter<File>,
    len: u64,
    /// Size of the current snapshot file (0 if none).
    snapshot_len: u64,
}

/// What opening the registry found.
pub(crate) struct RegistryOpenReport {
    /// Bytes of a torn or corrupt tail that were cut off.
    pub truncated_bytes: u64,
    pub corrupt: bool,
}

/// The identity cache's share of the storage memory budget: 5 %, like the share
/// VictoriaMetrics gives its metricID → metricName cache, at least the default size
/// when the budget allows it. Entries are a few hundred bytes, so 1M series of
/// dashboard working set fit in ~0.5 GiB.
pub(crate) fn info_cache_capacity_for_budget(budget_bytes: u64) -> u64 {
    (budget_bytes / 20).max(info_cache::DEFAULT_CAPACITY_BYTES.min(budget_bytes / 4))
}

impl SeriesRegistry {
    /// Opens with the default identity-cache size (tests, tools).
    #[cfg(test)]
    pub(crate) fn open(dir: &Path) -> Result<(SeriesRegistry, RegistryOpenReport), StorageError> {
        SeriesRegistry::open_with_cache(dir, info_cache::DEFAULT_CAPACITY_BYTES)
    }

    /// Opens the registry in `dir`, caching up to `info_cache_bytes` of decoded
    /// series identities (see [`info_cache_capacity_for_budget`]).
    pub(crate) fn open_with_cache(
        dir: &Path,
        info_cache_bytes: u64,
    ) -> Result<(SeriesRegistry, RegistryOpenReport), StorageError> {
        let path = dir.join(LOG_FILE);
        let mut state = RegistryState::new();
        let mut corrupt = false;
        let snapshot_len = match load_snapshot(&dir.join(SNAPSHOT_FILE), &mut state) {
            Ok(len) => len,
            Err(e) => {
                // Same policy as a corrupt log record: serve what remains; the WAL
                // re-creates unflushed series.
                tracing::error!(error = %e, "unreadable series registry snapshot");
                corrupt = true;
                0
            }
        };
        // A log rewrite interrupted by a crash; the log itself is still complete.
        let _ = std::fs::remove_file(dir.join(format!("{LOG_FILE}.tmp")));
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut pos = 0usize;
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
            dir: dir.to_path_buf(),
            path,
            state: RwLock::new(state),
            infos: InfoCache::new(info_cache_bytes),
            log: Mutex::new(RegistryLog {
                writer: BufWriter::new(file),
                len: pos as u64,
                snapshot_len,
            }),
            compaction: Mutex::new(()),
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
        with_series_key(tenant, labels, |key| {
            if let Some(id) = self.state.read().find(key) {
                return Ok(id);
            }
            self.create(tenant, key, |rec| wire::put_labels(rec, labels))
        })
    }

    /// Creates the series with key `key` unless it exists by now; `put_labels` writes
    /// its labels into the log record in the [`wire::put_labels`] form.
    fn create(
        &self,
        tenant: Tenant,
        key: &[u8],
        put_labels: impl FnOnce(&mut Vec<u8>),
    ) -> Result<SeriesId, StorageError> {
        let mut state = self.state.write();
        if let Some(id) = state.find(key) {
            return Ok(id);
        }
        let id = state.next_id;
        let mut rec = Vec::with_capacity(64 + key.len());
        rec.push(RECORD_CREATE);
        wire::put_u64(&mut rec, id);
        wire::put_tenant(&mut rec, tenant);
        put_labels(&mut rec);
        self.write_record(&rec)?;
        state.insert(id, key.into());
        Ok(id)
    }

    /// The ids of a batch of series given as borrowed label pairs (in the [`Labels`]
    /// form: sorted by name, unique names, no empty values), creating missing series.
    /// The lookups share one read lock and build no `Labels`; only series seen for the
    /// first time take the write lock.
    pub(crate) fn get_or_create_pairs(
        &self,
        tenant: Tenant,
        series: &[&[(&str, &str)]],
    ) -> Result<Vec<SeriesId>, StorageError> {
        let mut key = Vec::with_capacity(256);
        let mut ids = Vec::with_capacity(series.len());
        let mut missing = Vec::new();
        {
            let state = self.state.read();
            for (i, pairs) in series.iter().enumerate() {
                key::write(
                    &mut key,
                    tenant,
                    pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
                );
                // Ids start at 1, so 0 marks "not found" until filled in below.
                ids.push(state.find(&key).unwrap_or_else(|| {
                    missing.push(i);
                    0
                }));
            }
        }
        for i in missing {
            let pairs = series[i];
            key::write(
                &mut key,
                tenant,
                pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            );
            ids[i] = self.create(tenant, &key, |rec| wire::put_label_pairs(rec, pairs))?;
        }
        Ok(ids)
    }

    pub(crate) fn lookup(&self, tenant: Tenant, labels: &Labels) -> Option<SeriesId> {
        with_series_key(tenant, labels, |key| self.state.read().find(key))
    }

    /// The identity of live series `id`, from the decoded-identity cache when it holds
    /// it, else decoded from the key and cached.
    pub(crate) fn info(&self, id: SeriesId) -> Option<Arc<SeriesInfo>> {
        if let Some(info) = self.infos.get(id) {
            return Some(info);
        }
        // Cached while the read lock is held: `delete` invalidates under the write
        // lock, so it either runs first (the key is gone) or removes this entry.
        let state = self.state.read();
        let info = decode_info(state.key_of(id)?);
        self.infos.insert(id, Arc::clone(&info));
        Some(info)
    }

    /// Like [`SeriesRegistry::info`], but a decoded identity is not kept in the cache.
    /// For passes over many series that no query asked for (indexing new series,
    /// rebuilding postings, listing every series): caching them would fill the cache
    /// (5% of the memory budget) with identities that are then only memory.
    pub(crate) fn info_uncached(&self, id: SeriesId) -> Option<Arc<SeriesInfo>> {
        if let Some(info) = self.infos.get(id) {
            return Some(info);
        }
        let state = self.state.read();
        Some(decode_info(state.key_of(id)?))
    }

    /// How many identities the cache holds.
    #[cfg(test)]
    pub(crate) fn cached_infos(&self) -> usize {
        self.infos.len()
    }

    /// Whether `id` names a live series, without decoding its labels (merges ask this
    /// of every series they rewrite).
    pub(crate) fn is_live(&self, id: SeriesId) -> bool {
        self.state.read().key_of(id).is_some()
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
            self.infos.remove(id);
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
        let mut prefix = Vec::new();
        key::write(&mut prefix, tenant, []);
        self.state
            .read()
            .live()
            .filter(|s| key::tenant_bytes(&s.key) == prefix.as_slice())
            .map(|s| decode_info(&s.key))
            .collect()
    }

    pub(crate) fn live_count(&self) -> usize {
        self.state.read().live_count()
    }

    /// Writes buffered records and fsyncs the log.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        let mut log = self.log.lock();
        log.writer.flush().map_err(io_err(&self.path))?;
        log.writer.get_ref().sync_data().map_err(io_err(&self.path))
    }

    /// A consistent copy of the registry (snapshot and log) into the `index/`
    /// directory `dest_dir`, for data directory snapshots (the live log keeps
    /// growing, so it cannot be hard-linked).
    pub(crate) fn copy_to(&self, dest_dir: &Path) -> Result<(), StorageError> {
        let _compaction = self.compaction.lock();
        let snapshot = self.dir.join(SNAPSHOT_FILE);
        if snapshot.exists() {
            let dest = dest_dir.join(SNAPSHOT_FILE);
            std::fs::copy(&snapshot, &dest).map_err(io_err(&dest))?;
        }
        let mut log = self.log.lock();
        log.writer.flush().map_err(io_err(&self.path))?;
        let dest = dest_dir.join(LOG_FILE);
        std::fs::copy(&self.path, &dest).map_err(io_err(&dest))?;
        Ok(())
    }

    /// Compacts when the log has grown large relative to the snapshot (see
    /// [`LOG_TO_SNAPSHOT_RATIO`]). Returns whether it compacted.
    pub(crate) fn compact_if_grown(&self) -> Result<bool, StorageError> {
        let grown = {
            let log = self.log.lock();
            log.len >= MIN_LOG_BYTES_TO_COMPACT.max(log.snapshot_len * LOG_TO_SNAPSHOT_RATIO)
        };
        if grown {
            self.compact()?;
        }
        Ok(grown)
    }

    /// Writes a snapshot of the whole registry and drops the log records it covers.
    /// Registry changes made meanwhile stay in the log. A no-op on an empty log.
    pub(crate) fn compact(&self) -> Result<(), StorageError> {
        let _compaction = self.compaction.lock();
        let (body, next_id, mut deleted, covered) = {
            // Lock order as in `create`: state, then log. While the state lock is held
            // no record is between being logged and being applied, so the captured
            // state is exactly the log's first `covered` bytes.
            let state = self.state.read();
            let covered = {
                let mut log = self.log.lock();
                if log.len == 0 {
                    return Ok(());
                }
                log.writer.flush().map_err(io_err(&self.path))?;
                log.len
            };
            // The body (prefix-shared label text, a few MB at most) is built from the
            // stored keys in place rather than from a copy of them; only its
            // compression runs after the lock is released.
            let mut series: Vec<(SeriesId, &[u8])> =
                state.live().map(|s| (s.id, &*s.key)).collect();
            let body = registry_snapshot::encode_body(&mut series);
            let deleted: Vec<SeriesId> = state.deleted.iter().copied().collect();
            (body, state.next_id, deleted, covered)
        };
        let bytes = registry_snapshot::encode(next_id, &mut deleted, &body);
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        fsutil::write_checksummed_atomic(&snapshot_path, &bytes)?;

        // The snapshot is durable; now the log keeps only what came after `covered`.
        let mut log = self.log.lock();
        log.writer.flush().map_err(io_err(&self.path))?;
        let current = std::fs::read(&self.path).map_err(io_err(&self.path))?;
        let tail = current.get(covered as usize..).unwrap_or_default();
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(tail).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        fsutil::sync_dir(&self.dir)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        log.writer = BufWriter::new(file);
        log.len = tail.len() as u64;
        log.snapshot_len = bytes.len() as u64 + 4;
        Ok(())
    }

    fn write_record(&self, payload: &[u8]) -> Result<(), StorageError> {
        let mut frame = Vec::with_capacity(payload.len() + wire::FRAME_HEADER);
        wire::put_frame(&mut frame, payload);
        let mut log = self.log.lock();
        log.writer.write_all(&frame).map_err(io_err(&self.path))?;
        log.len += frame.len() as u64;
        Ok(())
    }
}

/// Loads `path` (if it exists) into `state`; returns its size in bytes.
fn load_snapshot(path: &Path, state: &mut RegistryState) -> Result<u64, StorageError> {
    if !path.exists() {
        return Ok(0);
    }
    let data = fsutil::read_checksummed(path)?;
    let snapshot: RegistrySnapshot = registry_snapshot::decode(&data)
        .map_err(|e| fsutil::corrupt(path, e.offset as u64, e.reason))?;
    for id in snapshot.deleted {
        state.remove(id);
    }
    for (id, key) in snapshot.series {
        state.insert(id, key);
    }
    state.next_id = state.next_id.max(snapshot.next_id);
    Ok(data.len() as u64 + 4)
}

/// Runs `f` on the [`key`] of `(tenant, labels)`, built in a reused thread-local
/// buffer because this runs for every series of every append.
fn with_series_key<R>(tenant: Tenant, labels: &Labels, f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        // Taken out rather than borrowed, so `f` may build a key itself without a
        // RefCell double borrow.
        let mut key = std::mem::take(&mut *buf.borrow_mut());
        key::write_labels(&mut key, tenant, labels);
        let result = f(&key);
        *buf.borrow_mut() = key;
        result
    })
}

fn decode_info(key: &[u8]) -> Arc<SeriesInfo> {
    Arc::new(SeriesInfo {
        tenant: key::tenant(key),
        labels: Arc::new(key::labels(key)),
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
                let key = with_series_key(tenant, &labels, |key| Box::<[u8]>::from(key));
                state.insert(id, key);
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
    fn identity_cache_takes_a_twentieth_of_the_budget_with_a_floor() {
        const GIB: u64 = 1 << 30;
        assert_eq!(info_cache_capacity_for_budget(10 * GIB), GIB / 2);
        // Small budgets keep the default size while it is at most a quarter of them.
        assert_eq!(
            info_cache_capacity_for_budget(GIB / 4),
            info_cache::DEFAULT_CAPACITY_BYTES
        );
        assert_eq!(info_cache_capacity_for_budget(64 << 20), 16 << 20);
    }

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

    fn log_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(LOG_FILE)).unwrap().len()
    }

    #[test]
    fn compaction_keeps_series_deletes_and_later_records() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tenant::new(3, 4);
        let labels =
            |i: usize| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]);
        let (ids, deleted, late) = {
            let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
            let ids: Vec<_> = (0..50)
                .map(|i| reg.get_or_create(t, &labels(i)).unwrap())
                .collect();
            reg.delete(&ids[..5]).unwrap();
            let before = log_len(dir.path());
            reg.compact().unwrap();
            assert_eq!(log_len(dir.path()), 0, "the snapshot covers the whole log");
            let snap = std::fs::metadata(dir.path().join(SNAPSHOT_FILE))
                .unwrap()
                .len();
            assert!(snap < before / 4, "snapshot {snap} bytes vs log {before}");
            let late = reg.get_or_create(t, &labels(1000)).unwrap();
            reg.sync().unwrap();
            assert!(log_len(dir.path()) > 0);
            let deleted = ids[..5].to_vec();
            (ids, deleted, late)
        };
        let (reg, report) = SeriesRegistry::open(dir.path()).unwrap();
        assert!(!report.corrupt);
        assert_eq!(reg.live_count(), 46);
        for (i, &id) in ids.iter().enumerate().skip(5) {
            assert_eq!(reg.lookup(t, &labels(i)), Some(id));
        }
        assert_eq!(reg.lookup(t, &labels(1000)), Some(late));
        for &id in &deleted {
            assert!(reg.is_deleted(id));
        }
        assert_eq!(reg.lookup(t, &labels(0)), None);
        let fresh = reg.get_or_create(t, &labels(2000)).unwrap();
        assert!(fresh > late, "ids are not reused after compaction");
    }

    #[test]
    fn crash_between_snapshot_and_log_rewrite_replays_harmlessly() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tenant::DEFAULT;
        let (a, b) = {
            let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
            let a = reg
                .get_or_create(t, &Labels::from_pairs([("a", "1")]))
                .unwrap();
            let b = reg
                .get_or_create(t, &Labels::from_pairs([("a", "2")]))
                .unwrap();
            reg.delete(&[b]).unwrap();
            reg.sync().unwrap();
            let full_log = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
            reg.compact().unwrap();
            drop(reg);
            // As if the process died after renaming the snapshot, before the log rewrite.
            std::fs::write(dir.path().join(LOG_FILE), full_log).unwrap();
            (a, b)
        };
        let (reg, report) = SeriesRegistry::open(dir.path()).unwrap();
        assert!(!report.corrupt);
        assert_eq!(reg.live_count(), 1);
        assert_eq!(reg.lookup(t, &Labels::from_pairs([("a", "1")])), Some(a));
        assert!(reg.is_deleted(b));
        assert_eq!(reg.lookup(t, &Labels::from_pairs([("a", "2")])), None);
    }

    #[test]
    fn corrupt_snapshot_is_reported_and_the_log_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
            reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "1")]))
                .unwrap();
            reg.compact().unwrap();
            reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "2")]))
                .unwrap();
            reg.sync().unwrap();
        }
        let snap = dir.path().join(SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&snap).unwrap();
        bytes[10] ^= 0x40;
        std::fs::write(&snap, bytes).unwrap();
        let (reg, report) = SeriesRegistry::open(dir.path()).unwrap();
        assert!(report.corrupt);
        assert_eq!(reg.live_count(), 1, "the log's series survive");
    }

    #[test]
    fn copy_holds_snapshot_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
        reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "1")]))
            .unwrap();
        reg.compact().unwrap();
        reg.get_or_create(Tenant::DEFAULT, &Labels::from_pairs([("a", "2")]))
            .unwrap();
        reg.copy_to(copy.path()).unwrap();
        let (copied, report) = SeriesRegistry::open(copy.path()).unwrap();
        assert!(!report.corrupt);
        assert_eq!(copied.live_count(), 2);
    }

    #[test]
    fn pairs_find_the_series_labels_create() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
        let t = Tenant::new(1, 2);
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let ida = reg.get_or_create(t, &a).unwrap();
        let pa: &[(&str, &str)] = &[("__name__", "a"), ("job", "x")];
        let pb: &[(&str, &str)] = &[("__name__", "b")];
        let ids = reg.get_or_create_pairs(t, &[pa, pb, pb, pa]).unwrap();
        assert_eq!(ids[0], ida);
        assert_eq!(ids[3], ida);
        assert_eq!(ids[1], ids[2], "a new series given twice is created once");
        assert_eq!(
            reg.lookup(t, &Labels::from_pairs([("__name__", "b")])),
            Some(ids[1])
        );
        assert_ne!(
            reg.get_or_create_pairs(Tenant::DEFAULT, &[pa]).unwrap()[0],
            ida,
            "tenants are separate"
        );
    }

    #[test]
    fn cached_infos_match_the_decoded_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
        let t = Tenant::new(5, 6);
        let labels = |i: usize| {
            Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i % 8).to_string()),
                ("instance", format!("host-{i}:9100")),
                ("mode", "idle".to_string()),
            ])
        };
        let ids: Vec<_> = (0..100)
            .map(|i| reg.get_or_create(t, &labels(i)).unwrap())
            .collect();
        for (i, &id) in ids.iter().enumerate() {
            let first = reg.info(id).unwrap();
            let again = reg.info(id).unwrap();
            assert!(
                Arc::ptr_eq(&first, &again),
                "the second call is a cache hit"
            );
            assert_eq!(*again.labels, labels(i));
            assert_eq!(again.tenant, t);
            let key = reg.state.read().key_of(id).unwrap().to_vec();
            assert_eq!(again.labels, decode_info(&key).labels);
        }
    }

    #[test]
    fn uncached_lookups_decode_without_filling_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
        let labels =
            |i: usize| Labels::from_pairs([("__name__", "up".to_string()), ("i", i.to_string())]);
        let ids: Vec<_> = (0..50)
            .map(|i| reg.get_or_create(Tenant::DEFAULT, &labels(i)).unwrap())
            .collect();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(*reg.info_uncached(id).unwrap().labels, labels(i));
        }
        assert_eq!(reg.cached_infos(), 0);
        let cached = reg.info(ids[7]).unwrap();
        assert_eq!(reg.cached_infos(), 1);
        assert!(
            Arc::ptr_eq(&reg.info_uncached(ids[7]).unwrap(), &cached),
            "an identity already cached is handed out, not decoded again"
        );
        reg.delete(&[ids[3]]).unwrap();
        assert!(reg.info_uncached(ids[3]).is_none());
    }

    #[test]
    fn deletes_invalidate_cached_infos() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, _) = SeriesRegistry::open(dir.path()).unwrap();
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let ida = reg.get_or_create(Tenant::DEFAULT, &a).unwrap();
        let idb = reg.get_or_create(Tenant::DEFAULT, &b).unwrap();
        assert_eq!(*reg.info(ida).unwrap().labels, a);
        assert_eq!(*reg.info(idb).unwrap().labels, b);
        reg.delete(&[ida]).unwrap();
        assert!(reg.info(ida).is_none(), "a deleted id has no identity");
        assert_eq!(*reg.info(idb).unwrap().labels, b, "others stay cached");
        let recreated = reg.get_or_create(Tenant::DEFAULT, &a).unwrap();
        assert!(recreated > idb, "a re-created series gets a new id");
        assert_eq!(*reg.info(recreated).unwrap().labels, a);
        assert!(reg.info(ida).is_none());
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
