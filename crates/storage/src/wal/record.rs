//! WAL record payloads (before compression and framing).
//!
//! Samples records name each series by its registry id and carry the label set only
//! the first time that id appears in a segment (`SegmentSeries` tracks this on the
//! write side, `SegmentDefinitions` on replay). Repeating full label sets in every
//! record made label bytes, and compressing them, the largest cost of an append;
//! keeping one definition per segment leaves every segment self-contained, so replay
//! still needs nothing but the log.

use rustc_hash::{FxHashMap, FxHashSet};
use tidemark_model::{Labels, Sample, Tenant};

use crate::histograms::wal_record as histogram_record;
use crate::series::SeriesId;
use crate::wire::{self, Reader, WireError};

// Kind 1 (samples with full label sets in every record) was format version 1's.
const KIND_DELETE: u8 = 2;
/// Samples keyed by series id, labels on the id's first use in the segment.
const KIND_SAMPLES_IDS: u8 = 3;

/// A decoded WAL record.
#[derive(Debug, PartialEq)]
pub(crate) enum WalRecord {
    Samples {
        tenant: Tenant,
        series: Vec<(Labels, Vec<Sample>)>,
    },
    Delete {
        tenant: Tenant,
        series: Vec<Labels>,
    },
    /// Native histogram samples (kind 4, see `crate::histograms::wal_record`).
    Histograms {
        tenant: Tenant,
        series: Vec<(Labels, Vec<tidemark_model::HistogramSample>)>,
    },
}

/// Write side: which series ids the current segment already defines. Every series of
/// every append is checked here, so ids below [`BITSET_IDS`] (all of them in practice:
/// ids are assigned densely from 1) live in a bitset, far cheaper than hashing.
#[derive(Default)]
pub(crate) struct SegmentSeries {
    bits: Vec<u64>,
    /// Ids too large for the bitset (only after an id gap, e.g. a restored registry).
    others: FxHashSet<SeriesId>,
}

/// Ids below this use the bitset, which is then at most 32 MiB.
const BITSET_IDS: SeriesId = 1 << 28;

impl SegmentSeries {
    /// A new segment defines nothing yet.
    pub(crate) fn clear(&mut self) {
        self.bits.fill(0);
        self.others.clear();
    }

    /// Marks `id` defined; true if it was not yet.
    fn define(&mut self, id: SeriesId) -> bool {
        if id >= BITSET_IDS {
            return self.others.insert(id);
        }
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        new
    }

    /// Takes back definitions a record claimed but that never reached the segment
    /// (its write failed), so later records define those series again.
    pub(crate) fn forget(&mut self, ids: &[SeriesId]) {
        for &id in ids {
            if id >= BITSET_IDS {
                self.others.remove(&id);
            } else if let Some(word) = self.bits.get_mut((id / 64) as usize) {
                *word &= !(1u64 << (id % 64));
            }
        }
    }
}

/// One series of a samples record: its id, its labels in the [`Labels`] form (written
/// only on the id's first use in the segment) and its samples.
pub(crate) type SeriesEntry<'a> = (SeriesId, &'a [(&'a str, &'a str)], &'a [Sample]);

/// Encodes a samples record into `out` (cleared first). Ids whose labels this record
/// carries are marked defined in `segment` and pushed onto `newly_defined`; if the
/// record is not written after all, the caller hands them to [`SegmentSeries::forget`].
pub(crate) fn encode_samples(
    out: &mut Vec<u8>,
    segment: &mut SegmentSeries,
    tenant: Tenant,
    series: &[SeriesEntry<'_>],
    newly_defined: &mut Vec<SeriesId>,
) {
    out.clear();
    out.push(KIND_SAMPLES_IDS);
    wire::put_tenant(out, tenant);
    wire::put_uvarint(out, series.len() as u64);
    for &(id, labels, samples) in series {
        wire::put_uvarint(out, id);
        if segment.define(id) {
            debug_assert!(!labels.is_empty(), "empty label sets are rejected earlier");
            wire::put_label_pairs(out, labels);
            newly_defined.push(id);
        } else {
            // A zero label count means "defined earlier in this segment" (label sets
            // are never empty).
            wire::put_uvarint(out, 0);
        }
        wire::put_uvarint(out, samples.len() as u64);
        for s in samples {
            wire::put_i64(out, s.timestamp);
            wire::put_u64(out, s.value.to_bits());
        }
    }
}

pub(crate) fn encode_delete(out: &mut Vec<u8>, tenant: Tenant, series: &[Labels]) {
    out.clear();
    out.push(KIND_DELETE);
    wire::put_tenant(out, tenant);
    wire::put_uvarint(out, series.len() as u64);
    for labels in series {
        wire::put_labels(out, labels);
    }
}

/// Replay side: label sets defined so far in the segment being replayed.
#[derive(Default)]
pub(crate) struct SegmentDefinitions {
    labels: FxHashMap<SeriesId, Labels>,
}

fn error(reason: &'static str) -> WireError {
    WireError { offset: 0, reason }
}

/// Decodes one record. Definitions it carries are remembered in `defs` only when the
/// whole record decodes, matching the writer, which counts a record as written only
/// once it is.
pub(crate) fn decode(raw: &[u8], defs: &mut SegmentDefinitions) -> Result<WalRecord, WireError> {
    let mut r = Reader::new(raw);
    let kind = r.u8()?;
    if kind == histogram_record::KIND_HISTOGRAMS {
        let (tenant, series) = histogram_record::decode_after_kind(&mut r)?;
        if !r.is_empty() {
            return Err(error("trailing bytes after a WAL record"));
        }
        return Ok(WalRecord::Histograms { tenant, series });
    }
    let tenant = r.tenant()?;
    let n = r.count(1)?;
    let record = match kind {
        KIND_SAMPLES_IDS => {
            let mut series = Vec::with_capacity(n);
            let mut new_defs: Vec<(SeriesId, Labels)> = Vec::new();
            for _ in 0..n {
                let id = r.uvarint()?;
                let labels = r.labels()?;
                let labels = if !labels.is_empty() {
                    new_defs.push((id, labels.clone()));
                    labels
                } else if let Some(l) = new_defs
                    .iter()
                    .rev()
                    .find(|(d, _)| *d == id)
                    .map(|(_, l)| l)
                    .or_else(|| defs.labels.get(&id))
                {
                    l.clone()
                } else {
                    return Err(error("series id used before its definition in the segment"));
                };
                series.push((labels, read_samples(&mut r)?));
            }
            if r.is_empty() {
                defs.labels.extend(new_defs);
            }
            WalRecord::Samples { tenant, series }
        }
        KIND_DELETE => {
            let mut series = Vec::with_capacity(n);
            for _ in 0..n {
                series.push(r.labels()?);
            }
            WalRecord::Delete { tenant, series }
        }
        _ => return Err(error("unknown WAL record kind")),
    };
    if !r.is_empty() {
        return Err(error("trailing bytes after a WAL record"));
    }
    Ok(record)
}

fn read_samples(r: &mut Reader<'_>) -> Result<Vec<Sample>, WireError> {
    let count = r.count(16)?;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let ts = r.i64()?;
        let bits = r.u64()?;
        samples.push(Sample::new(ts, f64::from_bits(bits)));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(labels: &Labels) -> Vec<(&str, &str)> {
        labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn labels_are_written_once_per_segment_and_resolved_on_replay() {
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let (pa, pb) = (pairs(&a), pairs(&b));
        let s = [Sample::new(1, 1.0)];
        let mut segment = SegmentSeries::default();
        let (mut raw1, mut raw2) = (Vec::new(), Vec::new());
        let mut new = Vec::new();
        let t = Tenant::new(1, 2);
        encode_samples(
            &mut raw1,
            &mut segment,
            t,
            &[(7, &pa, &s), (7, &pa, &s)],
            &mut new,
        );
        assert_eq!(new, vec![7], "a repeated id is defined once per record");
        new.clear();
        encode_samples(
            &mut raw2,
            &mut segment,
            t,
            &[(7, &pa, &s), (9, &pb, &s)],
            &mut new,
        );
        assert_eq!(new, vec![9]);
        assert!(
            raw2.len() < raw1.len() + 8,
            "the second record omits a's labels"
        );

        let mut defs = SegmentDefinitions::default();
        let expect = |series: Vec<(Labels, Vec<Sample>)>| WalRecord::Samples { tenant: t, series };
        assert_eq!(
            decode(&raw1, &mut defs).unwrap(),
            expect(vec![(a.clone(), s.to_vec()), (a.clone(), s.to_vec())])
        );
        assert_eq!(
            decode(&raw2, &mut defs).unwrap(),
            expect(vec![(a.clone(), s.to_vec()), (b.clone(), s.to_vec())])
        );
        // Replayed without the defining record (another segment), the reference is an error.
        let err = decode(&raw2, &mut SegmentDefinitions::default()).unwrap_err();
        assert!(err.reason.contains("before its definition"));

        // A record that was never written gives its definitions back.
        segment.forget(&new);
        let mut raw3 = Vec::new();
        new.clear();
        encode_samples(&mut raw3, &mut segment, t, &[(9, &pb, &s)], &mut new);
        assert_eq!(new, vec![9], "b is defined again");

        // Ids past the bitset behave the same.
        let big = BITSET_IDS + 5;
        assert!(segment.define(big));
        assert!(!segment.define(big));
        segment.forget(&[big]);
        assert!(segment.define(big));
        segment.clear();
        assert!(
            segment.define(7) && segment.define(big),
            "a new segment defines nothing"
        );
    }

    #[test]
    fn stale_markers_and_deletes_round_trip() {
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let s = [Sample::new(5, tidemark_model::STALE_NAN)];
        let mut raw = Vec::new();
        let mut segment = SegmentSeries::default();
        encode_samples(
            &mut raw,
            &mut segment,
            Tenant::DEFAULT,
            &[(1, &pairs(&a), &s)],
            &mut Vec::new(),
        );
        let mut defs = SegmentDefinitions::default();
        match decode(&raw, &mut defs).unwrap() {
            WalRecord::Samples { series, .. } => {
                assert_eq!(series[0].0, a);
                assert_eq!(series[0].1[0].value.to_bits(), s[0].value.to_bits());
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut del = Vec::new();
        encode_delete(&mut del, Tenant::DEFAULT, std::slice::from_ref(&a));
        assert_eq!(
            decode(&del, &mut defs).unwrap(),
            WalRecord::Delete {
                tenant: Tenant::DEFAULT,
                series: vec![a]
            }
        );
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let a = Labels::from_pairs([("__name__", "a")]);
        let mut raw = Vec::new();
        encode_samples(
            &mut raw,
            &mut SegmentSeries::default(),
            Tenant::DEFAULT,
            &[(3, &pairs(&a), &[Sample::new(1, 2.0)])],
            &mut Vec::new(),
        );
        for len in 0..raw.len() {
            let mut defs = SegmentDefinitions::default();
            assert!(
                decode(&raw[..len], &mut defs).is_err(),
                "prefix of {len} bytes"
            );
            assert!(defs.labels.is_empty(), "a failed record defines nothing");
        }
    }
}
