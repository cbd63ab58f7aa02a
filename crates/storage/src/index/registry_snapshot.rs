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

use std::sync::Arc;

use tidemark_model::{Label, Labels};

use crate::series::{SeriesId, SeriesInfo};
use crate::wire::{self, Reader, WireError};

const MAGIC: &[u8; 4] = b"TMRS";
const VERSION: u32 = 1;
/// Higher levels barely shrink sorted label text further but cost much more CPU.
const ZSTD_LEVEL: i32 = 9;
/// Refuses absurd body lengths from a corrupt header before allocating.
const MAX_BODY: u64 = 1 << 34;

/// The registry state a snapshot captures.
#[derive(Debug, Default)]
pub(crate) struct RegistrySnapshot {
    pub next_id: SeriesId,
    /// Ascending.
    pub deleted: Vec<SeriesId>,
    pub series: Vec<(SeriesId, Arc<SeriesInfo>)>,
}

/// Encodes `snapshot` (the series may come in any order; they are sorted here).
/// The trailing CRC is added by the caller's checksummed writer.
pub(crate) fn encode(snapshot: &mut RegistrySnapshot) -> Vec<u8> {
    snapshot
        .series
        .sort_unstable_by(|(_, a), (_, b)| (a.tenant, &a.labels).cmp(&(b.tenant, &b.labels)));
    snapshot.deleted.sort_unstable();

    let mut out = Vec::with_capacity(64 + snapshot.series.len() * 8);
    out.extend_from_slice(MAGIC);
    wire::put_u32(&mut out, VERSION);
    wire::put_u64(&mut out, snapshot.next_id);
    wire::put_uvarint(&mut out, snapshot.deleted.len() as u64);
    let mut prev = 0;
    for &id in &snapshot.deleted {
        wire::put_uvarint(&mut out, id - prev);
        prev = id;
    }
    let body = encode_body(&snapshot.series);
    wire::put_uvarint(&mut out, body.len() as u64);
    let compressed =
        zstd::bulk::compress(&body, ZSTD_LEVEL).expect("in-memory zstd compression cannot fail");
    out.extend_from_slice(&compressed);
    out
}

fn encode_body(series: &[(SeriesId, Arc<SeriesInfo>)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(series.len() * 48);
    let groups: Vec<&[(SeriesId, Arc<SeriesInfo>)]> = series
        .chunk_by(|(_, a), (_, b)| a.tenant == b.tenant)
        .collect();
    wire::put_uvarint(&mut body, groups.len() as u64);
    let mut names = NameDictionary::default();
    let mut prev_id: SeriesId = 0;
    for group in groups {
        wire::put_tenant(&mut body, group[0].1.tenant);
        wire::put_uvarint(&mut body, group.len() as u64);
        let mut prev_labels: &[Label] = &[];
        for (id, info) in group {
            put_zvarint(&mut body, id.wrapping_sub(prev_id) as i64);
            prev_id = *id;
            let labels = info.labels.as_slice();
            let shared = labels
                .iter()
                .zip(prev_labels)
                .take_while(|(a, b)| a == b)
                .count();
            wire::put_uvarint(&mut body, shared as u64);
            wire::put_uvarint(&mut body, (labels.len() - shared) as u64);
            for label in &labels[shared..] {
                names.put(&mut body, &label.name);
                wire::put_str(&mut body, &label.value);
            }
            prev_labels = labels;
        }
    }
    body
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

fn decode_body(body: &[u8]) -> Result<Vec<(SeriesId, Arc<SeriesInfo>)>, WireError> {
    let mut r = Reader::new(body);
    // Each tenant group takes at least 9 bytes, each series at least 3.
    let groups = r.count(9)?;
    let mut series: Vec<(SeriesId, Arc<SeriesInfo>)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut prev_id: SeriesId = 0;
    for _ in 0..groups {
        let tenant = r.tenant()?;
        let count = r.count(3)?;
        series.reserve(count);
        let group_start = series.len();
        for _ in 0..count {
            let prev_labels: &[Label] = if series.len() > group_start {
                series[series.len() - 1].1.labels.as_slice()
            } else {
                &[]
            };
            let delta = unzigzag(r.uvarint()?);
            let id = prev_id.wrapping_add(delta as u64);
            prev_id = id;
            let shared = r.uvarint()? as usize;
            if shared > prev_labels.len() {
                return Err(error(
                    r.position(),
                    "more shared labels than the previous series has",
                ));
            }
            let fresh = r.count(2)?;
            let mut labels = Vec::with_capacity(shared + fresh);
            labels.extend_from_slice(&prev_labels[..shared]);
            for _ in 0..fresh {
                let name = match r.uvarint()? {
                    0 => {
                        let name = r.str()?.to_string();
                        names.push(name.clone());
                        name
                    }
                    i => names
                        .get(i as usize - 1)
                        .ok_or_else(|| error(r.position(), "label name reference out of range"))?
                        .clone(),
                };
                labels.push(Label::new(name, r.str()?));
            }
            let labels = Labels::from_vec(labels);
            series.push((id, Arc::new(SeriesInfo { tenant, labels })));
        }
    }
    if !r.is_empty() {
        return Err(error(r.position(), "trailing bytes after the last series"));
    }
    Ok(series)
}

/// Label names seen so far, so each name is spelled out once per snapshot.
#[derive(Default)]
struct NameDictionary {
    refs: rustc_hash::FxHashMap<String, u64>,
}

impl NameDictionary {
    fn put(&mut self, out: &mut Vec<u8>, name: &str) {
        if let Some(&r) = self.refs.get(name) {
            wire::put_uvarint(out, r);
        } else {
            let r = self.refs.len() as u64 + 1;
            self.refs.insert(name.to_string(), r);
            wire::put_uvarint(out, 0);
            wire::put_str(out, name);
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
    use tidemark_model::Tenant;

    fn info(tenant: Tenant, pairs: &[(&str, &str)]) -> Arc<SeriesInfo> {
        Arc::new(SeriesInfo {
            tenant,
            labels: Labels::from_pairs(pairs.iter().copied()),
        })
    }

    /// A node_exporter-like fleet: many hosts, the same metric and label names on each.
    fn fleet(hosts: usize) -> Vec<(SeriesId, Arc<SeriesInfo>)> {
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
                        info(
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
                    info(
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

    fn as_sorted_tuples(series: &[(SeriesId, Arc<SeriesInfo>)]) -> Vec<(SeriesId, Tenant, Labels)> {
        let mut v: Vec<_> = series
            .iter()
            .map(|(id, i)| (*id, i.tenant, i.labels.clone()))
            .collect();
        v.sort_by_key(|t| t.0);
        v
    }

    #[test]
    fn round_trips_series_tenants_and_deleted_ids() {
        let mut series = fleet(3);
        series.push((
            9_000,
            info(Tenant::new(5, 6), &[("__name__", "up"), ("job", "x")]),
        ));
        series.push((
            7,
            info(Tenant::new(5, 6), &[("__name__", "up"), ("job", "é")]),
        ));
        series.push((8, info(Tenant::new(1, 0), &[("a", "")])));
        let expected = as_sorted_tuples(&series);
        let mut snap = RegistrySnapshot {
            next_id: 9_001,
            deleted: vec![20_000, 3, 40],
            series,
        };
        let bytes = encode(&mut snap);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.next_id, 9_001);
        assert_eq!(back.deleted, vec![3, 40, 20_000]);
        assert_eq!(as_sorted_tuples(&back.series), expected);
    }

    #[test]
    fn empty_snapshot_round_trips() {
        let bytes = encode(&mut RegistrySnapshot {
            next_id: 1,
            ..Default::default()
        });
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
            .map(|(_, i)| {
                let mut rec = Vec::new();
                wire::put_labels(&mut rec, &i.labels);
                rec.len() + 1 + 8 + 8 + wire::FRAME_HEADER
            })
            .sum();
        let bytes = encode(&mut RegistrySnapshot {
            next_id: n as u64 + 1,
            deleted: Vec::new(),
            series,
        });
        let per_series = bytes.len() as f64 / n as f64;
        println!(
            "{n} series: snapshot {:.1} B/series, log {:.1} B/series",
            per_series,
            log_bytes as f64 / n as f64
        );
        assert!(per_series < 8.0, "{per_series:.1} bytes per series");
    }

    #[test]
    fn corrupt_snapshots_are_errors_not_panics() {
        let bytes = encode(&mut RegistrySnapshot {
            next_id: 500,
            deleted: vec![1],
            series: fleet(1),
        });
        for cut in [0, 3, 8, 17, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[4] = 99;
        assert!(decode(&wrong_version).is_err());
    }
}
