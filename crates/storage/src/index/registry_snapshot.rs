//! The compacted series registry (`index/series.snap`).
//!
//! The registry log repeats every label set in full (~140 bytes per node_exporter
//! series) and never forgets a record. A snapshot stores the same state — live series,
//! deleted ids and the next id — sorted by `(tenant, labels)` so neighbours share most
//! labels, with each series naming only the labels that differ from its predecessor,
//! label names taken from a dictionary, and the whole body zstd-compressed. On a
//! node_exporter fleet that is a few bytes per series.
//!
//! File layout (all integers little-endian, `uvarint` = LEB128, `zvarint` = zigzag LEB128):
//!
//! ```text
//! "TMRS"  magic
//! u32     snapshot format version (1)
//! u64     next id
//! uvarint deleted id count, then the deleted ids ascending, each as uvarint delta
//! uvarint uncompressed body length
//! bytes   zstd-compressed body
//! u32     CRC32 of everything above
//! ```
//!
//! Body: `uvarint` tenant count; per tenant `u32 account, u32 project, uvarint series`;
//! per series `zvarint id − previous id`, `uvarint` labels shared with the previous
//! series of the tenant, `uvarint` further labels, each `uvarint name ref` (0 = a new
//! name follows as a string and joins the dictionary, `i + 1` = dictionary entry `i`)
//! and its value string (`uvarint` length + UTF-8).

use crate::series::{key, SeriesId};
use crate::wire::{self, Reader, WireError};

const MAGIC: &[u8; 4] = b"TMRS";
const VERSION: u32 = 1;
/// Higher levels barely shrink sorted label text further but cost much more CPU.
const ZSTD_LEVEL: i32 = 9;
/// Refuses absurd body lengths from a corrupt header before allocating.
const MAX_BODY: u64 = 1 << 34;

/// The registry state a snapshot holds, as [`decode`] returns it.
#[derive(Debug, Default)]
pub(crate) struct RegistrySnapshot {
    pub next_id: SeriesId,
    /// Ascending.
    pub deleted: Vec<SeriesId>,
    /// Each live series with its [`key`].
    pub series: Vec<(SeriesId, Box<[u8]>)>,
}

/// Encodes the uncompressed body from live series given as `(id, key)` in any order
/// (they are sorted here). Borrowing the keys lets the registry build it from its own
/// storage, without copying every label set first.
pub(crate) fn encode_body(series: &mut [(SeriesId, &[u8])]) -> Vec<u8> {
    // Byte order of keys groups each tenant's series and puts label sets sharing
    // leading labels next to each other, which is all the prefix sharing needs.
    series.sort_unstable_by(|(_, a), (_, b)| a.cmp(b));
    let mut body = Vec::with_capacity(series.len() * 48);
    let groups: Vec<&[(SeriesId, &[u8])]> = series
        .chunk_by(|(_, a), (_, b)| key::tenant_bytes(a) == key::tenant_bytes(b))
        .collect();
    wire::put_uvarint(&mut body, groups.len() as u64);
    let mut names = NameDictionary::default();
    let mut prev_id: SeriesId = 0;
    let mut labels: Vec<(&[u8], &[u8])> = Vec::new();
    let mut prev_labels: Vec<(&[u8], &[u8])> = Vec::new();
    for group in groups {
        wire::put_tenant(&mut body, key::tenant(group[0].1));
        wire::put_uvarint(&mut body, group.len() as u64);
        prev_labels.clear();
        for &(id, series_key) in group {
            put_zvarint(&mut body, id.wrapping_sub(prev_id) as i64);
            prev_id = id;
            labels.clear();
            labels.extend(key::pairs(series_key));
            let shared = labels
                .iter()
                .zip(&prev_labels)
                .take_while(|(a, b)| a == b)
                .count();
            wire::put_uvarint(&mut body, shared as u64);
            wire::put_uvarint(&mut body, (labels.len() - shared) as u64);
            for &(name, value) in &labels[shared..] {
                names.put(&mut body, name);
                put_bytes(&mut body, value);
            }
            std::mem::swap(&mut labels, &mut prev_labels);
        }
    }
    body
}

/// The snapshot file's content (without the trailing CRC, which the caller's
/// checksummed writer adds) around a body from [`encode_body`].
pub(crate) fn encode(next_id: SeriesId, deleted: &mut [SeriesId], body: &[u8]) -> Vec<u8> {
    deleted.sort_unstable();
    let mut out = Vec::with_capacity(64 + deleted.len() * 2 + body.len() / 4);
    out.extend_from_slice(MAGIC);
    wire::put_u32(&mut out, VERSION);
    wire::put_u64(&mut out, next_id);
    wire::put_uvarint(&mut out, deleted.len() as u64);
    let mut prev = 0;
    for &id in deleted.iter() {
        wire::put_uvarint(&mut out, id - prev);
        prev = id;
    }
    wire::put_uvarint(&mut out, body.len() as u64);
    let compressed =
        zstd::bulk::compress(body, ZSTD_LEVEL).expect("in-memory zstd compression cannot fail");
    out.extend_from_slice(&compressed);
    out
}

/// A length-prefixed string as [`wire::put_str`] writes it, from bytes known to be UTF-8.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    wire::put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Decodes a snapshot written by [`encode`] (without the CRC, which the caller verified).
pub(crate) fn decode(data: &[u8]) -> Result<RegistrySnapshot, WireError> {
    let mut r = Reader::new(data);
    if r.bytes(4)? != MAGIC {
        return Err(error(0, "not a registry snapshot (bad magic)"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(error(4, "unsupported registry snapshot version"));
    }
    let next_id = r.u64()?;
    let deleted_count = r.count(1)?;
    let mut deleted = Vec::with_capacity(deleted_count);
    let mut prev: SeriesId = 0;
    for _ in 0..deleted_count {
        prev = prev
            .checked_add(r.uvarint()?)
            .ok_or_else(|| error(r.position(), "deleted id overflows"))?;
        deleted.push(prev);
    }
    let body_len = r.uvarint()?;
    if body_len > MAX_BODY {
        return Err(error(r.position(), "snapshot body length out of range"));
    }
    let compressed_at = r.position();
    let compressed = r.bytes(data.len() - compressed_at)?;
    let body = zstd::bulk::decompress(compressed, body_len as usize)
        .map_err(|_| error(compressed_at, "snapshot body does not decompress"))?;
    if body.len() as u64 != body_len {
        return Err(error(compressed_at, "snapshot body has the wrong length"));
    }
    let series = decode_body(&body).map_err(|e| error(compressed_at, e.reason))?;
    Ok(RegistrySnapshot {
        next_id,
        deleted,
        series,
    })
}

fn decode_body(body: &[u8]) -> Result<Vec<(SeriesId, Box<[u8]>)>, WireError> {
    let mut r = Reader::new(body);
    // Each tenant group takes at least 9 bytes, each series at least 3.
    let groups = r.count(9)?;
    let mut series: Vec<(SeriesId, Box<[u8]>)> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut prev_id: SeriesId = 0;
    let mut labels: Vec<(&str, &str)> = Vec::new();
    let mut series_key = Vec::new();
    for _ in 0..groups {
        let tenant = r.tenant()?;
        let count = r.count(3)?;
        series.reserve(count);
        labels.clear();
        for _ in 0..count {
            let delta = unzigzag(r.uvarint()?);
            let id = prev_id.wrapping_add(delta as u64);
            prev_id = id;
            let shared = r.uvarint()? as usize;
            if shared > labels.len() {
                return Err(error(
                    r.position(),
                    "more shared labels than the previous series has",
                ));
            }
            labels.truncate(shared);
            let fresh = r.count(2)?;
            for _ in 0..fresh {
                let name = match r.uvarint()? {
                    0 => {
                        let name = r.str()?;
                        names.push(name);
                        name
                    }
                    i => *names
                        .get(i as usize - 1)
                        .ok_or_else(|| error(r.position(), "label name reference out of range"))?,
                };
                labels.push((name, r.str()?));
            }
            // Keys must be in the canonical form lookups build; the encoder only
            // writes that form, so anything else is damage.
            let canonical = labels.windows(2).all(|w| w[0].0 < w[1].0)
                && labels
                    .iter()
                    .all(|(name, value)| !name.is_empty() && !value.is_empty());
            if !canonical {
                return Err(error(
                    r.position(),
                    "series labels are not in canonical form",
                ));
            }
            key::write(
                &mut series_key,
                tenant,
                labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            );
            series.push((id, series_key.as_slice().into()));
        }
    }
    if !r.is_empty() {
        return Err(error(r.position(), "trailing bytes after the last series"));
    }
    Ok(series)
}

/// Label names seen so far, so each name is spelled out once per snapshot.
#[derive(Default)]
struct NameDictionary<'a> {
    refs: rustc_hash::FxHashMap<&'a [u8], u64>,
}

impl<'a> NameDictionary<'a> {
    fn put(&mut self, out: &mut Vec<u8>, name: &'a [u8]) {
        if let Some(&r) = self.refs.get(name) {
            wire::put_uvarint(out, r);
        } else {
            let r = self.refs.len() as u64 + 1;
            self.refs.insert(name, r);
            wire::put_uvarint(out, 0);
            put_bytes(out, name);
        }
    }
}

fn put_zvarint(out: &mut Vec<u8>, v: i64) {
    wire::put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn error(offset: usize, reason: &'static str) -> WireError {
    WireError { offset, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{Labels, Tenant};

    fn series_key(tenant: Tenant, pairs: &[(&str, &str)]) -> Box<[u8]> {
        let mut out = Vec::new();
        key::write_labels(&mut out, tenant, &Labels::from_pairs(pairs.iter().copied()));
        out.into()
    }

    fn encode_snapshot(
        next_id: SeriesId,
        mut deleted: Vec<SeriesId>,
        series: &[(SeriesId, Box<[u8]>)],
    ) -> Vec<u8> {
        let mut refs: Vec<(SeriesId, &[u8])> = series.iter().map(|(id, k)| (*id, &**k)).collect();
        encode(next_id, &mut deleted, &encode_body(&mut refs))
    }

    /// A node_exporter-like fleet: many hosts, the same metric and label names on each.
    fn fleet(hosts: usize) -> Vec<(SeriesId, Box<[u8]>)> {
        let mut out = Vec::new();
        let mut id = 1;
        for h in 0..hosts {
            let instance = format!("node-{h:05}.c{:02}.example.net:9100", h % 7);
            let cluster = format!("c{:02}", h % 7);
            for cpu in 0..8 {
                for mode in [
                    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
                ] {
                    let cpu = cpu.to_string();
                    out.push((
                        id,
                        series_key(
                            Tenant::DEFAULT,
                            &[
                                ("__name__", "node_cpu_seconds_total"),
                                ("cluster", &cluster),
                                ("cpu", &cpu),
                                ("instance", &instance),
                                ("job", "node"),
                                ("mode", mode),
                            ],
                        ),
                    ));
                    id += 1;
                }
            }
            for m in 0..100 {
                let name = format!("node_memory_field_{m}_bytes");
                out.push((
                    id,
                    series_key(
                        Tenant::DEFAULT,
                        &[
                            ("__name__", &name),
                            ("cluster", &cluster),
                            ("instance", &instance),
                            ("job", "node"),
                        ],
                    ),
                ));
                id += 1;
            }
        }
        out
    }

    fn as_sorted_tuples(series: &[(SeriesId, Box<[u8]>)]) -> Vec<(SeriesId, Tenant, Labels)> {
        let mut v: Vec<_> = series
            .iter()
            .map(|(id, k)| (*id, key::tenant(k), key::labels(k)))
            .collect();
        v.sort_by_key(|t| t.0);
        v
    }

    #[test]
    fn round_trips_series_tenants_and_deleted_ids() {
        let mut series = fleet(3);
        series.push((
            9_000,
            series_key(Tenant::new(5, 6), &[("__name__", "up"), ("job", "x")]),
        ));
        series.push((
            7,
            series_key(Tenant::new(5, 6), &[("__name__", "up"), ("job", "é")]),
        ));
        series.push((8, series_key(Tenant::new(1, 0), &[("a", "")])));
        let expected = as_sorted_tuples(&series);
        let bytes = encode_snapshot(9_001, vec![20_000, 3, 40], &series);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.next_id, 9_001);
        assert_eq!(back.deleted, vec![3, 40, 20_000]);
        assert_eq!(as_sorted_tuples(&back.series), expected);
        let mut keys: Vec<_> = back.series.iter().map(|(_, k)| k.clone()).collect();
        let mut original: Vec<_> = series.into_iter().map(|(_, k)| k).collect();
        keys.sort();
        original.sort();
        assert_eq!(
            keys, original,
            "decoded keys are byte-identical to lookup keys"
        );
    }

    #[test]
    fn empty_snapshot_round_trips() {
        let bytes = encode_snapshot(1, Vec::new(), &[]);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.next_id, 1);
        assert!(back.series.is_empty() && back.deleted.is_empty());
    }

    #[test]
    fn node_exporter_fleet_takes_a_few_bytes_per_series() {
        let series = fleet(40);
        let n = series.len();
        let log_bytes: usize = series
            .iter()
            .map(|(_, k)| {
                let mut rec = Vec::new();
                wire::put_labels(&mut rec, &key::labels(k));
                rec.len() + 1 + 8 + 8 + wire::FRAME_HEADER
            })
            .sum();
        let bytes = encode_snapshot(n as u64 + 1, Vec::new(), &series);
        let per_series = bytes.len() as f64 / n as f64;
        println!(
            "{n} series: snapshot {:.1} B/series, log {:.1} B/series",
            per_series,
            log_bytes as f64 / n as f64
        );
        assert!(per_series < 8.0, "{per_series:.1} bytes per series");
    }

    #[test]
    fn unsorted_labels_in_a_body_are_rejected() {
        // One tenant group, one series: id delta 1, no shared labels, two labels out of order.
        let mut body = Vec::new();
        wire::put_uvarint(&mut body, 1);
        wire::put_tenant(&mut body, Tenant::DEFAULT);
        wire::put_uvarint(&mut body, 1);
        put_zvarint(&mut body, 1);
        wire::put_uvarint(&mut body, 0);
        wire::put_uvarint(&mut body, 2);
        for (name, value) in [("b", "1"), ("a", "2")] {
            wire::put_uvarint(&mut body, 0);
            wire::put_str(&mut body, name);
            wire::put_str(&mut body, value);
        }
        assert!(decode_body(&body).is_err());
    }

    #[test]
    fn corrupt_snapshots_are_errors_not_panics() {
        let bytes = encode_snapshot(500, vec![1], &fleet(1));
        for cut in [0, 3, 8, 17, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[4] = 99;
        assert!(decode(&wrong_version).is_err());
    }
}
