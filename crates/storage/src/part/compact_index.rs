//! The in-memory block index of an open part, packed to 28 bytes per block.
//!
//! Before merges there are many small parts, each with a block per active series, so
//! the open parts' indexes are a large share of the heap. A [`BlockRef`] takes 48
//! bytes; here each entry stores its fields relative to the part (series id as an
//! offset from the part's first series, min time as an offset from the part's min
//! time, max time as the block's span) in seven `u32` words. Lookups unpack one
//! entry at a time, so reads see exactly the `BlockRef`s that were pushed.
//!
//! A part whose entries do not fit (a series range or time range over 2^32, a block
//! offset past 1 TiB, more than 65535 samples in a block) keeps plain `BlockRef`s:
//! correctness never depends on the packing.

use std::ops::Range;

use super::BlockRef;
use crate::series::SeriesId;

/// One block's entry, relative to its [`PackedIndex`]'s bases.
#[derive(Debug, Clone, Copy)]
struct PackedRef {
    series: u32,
    min_ts: u32,
    /// `max_ts - min_ts`.
    span: u32,
    /// Low 32 bits of the block's offset in blocks.bin.
    offset_lo: u32,
    len: u32,
    crc: u32,
    /// Sample count (bits 0-15), sample kind (16-23), offset bits 32-39 (24-31).
    count_kind_offset_hi: u32,
}

#[derive(Debug)]
struct PackedIndex {
    series_base: SeriesId,
    ts_base: i64,
    entries: Vec<PackedRef>,
}

impl PackedIndex {
    fn pack(&self, b: &BlockRef) -> Option<PackedRef> {
        let series = u32::try_from(b.series.checked_sub(self.series_base)?).ok()?;
        let min_ts = u32::try_from(b.min_ts.checked_sub(self.ts_base)?).ok()?;
        let span = u32::try_from(b.max_ts.checked_sub(b.min_ts)?).ok()?;
        let count = u16::try_from(b.count).ok()?;
        let offset_hi = u8::try_from(b.offset >> 32).ok()?;
        Some(PackedRef {
            series,
            min_ts,
            span,
            offset_lo: b.offset as u32,
            len: b.len,
            crc: b.crc,
            count_kind_offset_hi: u32::from(count)
                | u32::from(b.kind) << 16
                | u32::from(offset_hi) << 24,
        })
    }

    fn unpack(&self, e: &PackedRef) -> BlockRef {
        // `pack` checked every sum below fits its type.
        let min_ts = self.ts_base + i64::from(e.min_ts);
        BlockRef {
            series: self.series_base + SeriesId::from(e.series),
            min_ts,
            max_ts: min_ts + i64::from(e.span),
            offset: u64::from(e.offset_lo) | u64::from(e.count_kind_offset_hi >> 24) << 32,
            len: e.len,
            count: e.count_kind_offset_hi & 0xffff,
            crc: e.crc,
            kind: (e.count_kind_offset_hi >> 16) as u8,
        }
    }
}

#[derive(Debug)]
enum Entries {
    Packed(PackedIndex),
    /// Fallback for parts whose entries do not all pack.
    Wide(Vec<BlockRef>),
}

/// The blocks of one part in index order (series id, then min time).
#[derive(Debug)]
pub(crate) struct BlockIndex {
    entries: Entries,
}

impl BlockIndex {
    /// An empty index that packs entries relative to `ts_base` (the part's min time)
    /// and reserves room for `capacity` entries.
    pub(crate) fn with_capacity(ts_base: i64, capacity: usize) -> BlockIndex {
        BlockIndex {
            entries: Entries::Packed(PackedIndex {
                series_base: 0,
                ts_base,
                entries: Vec::with_capacity(capacity),
            }),
        }
    }

    /// Appends `b`, which must not sort before the last entry for lookups to work.
    pub(crate) fn push(&mut self, b: BlockRef) {
        if let Entries::Packed(p) = &mut self.entries {
            if p.entries.is_empty() {
                p.series_base = b.series;
            }
            if let Some(e) = p.pack(&b) {
                p.entries.push(e);
                return;
            }
            let mut wide = Vec::with_capacity(p.entries.capacity().max(p.entries.len() + 1));
            wide.extend(p.entries.iter().map(|e| p.unpack(e)));
            self.entries = Entries::Wide(wide);
        }
        if let Entries::Wide(w) = &mut self.entries {
            w.push(b);
        }
    }

    /// Releases capacity reserved beyond the entries pushed.
    pub(crate) fn shrink_to_fit(&mut self) {
        match &mut self.entries {
            Entries::Packed(p) => p.entries.shrink_to_fit(),
            Entries::Wide(w) => w.shrink_to_fit(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.entries {
            Entries::Packed(p) => p.entries.len(),
            Entries::Wide(w) => w.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry at `i` (< `len()`).
    pub(crate) fn get(&self, i: usize) -> BlockRef {
        match &self.entries {
            Entries::Packed(p) => p.unpack(&p.entries[i]),
            Entries::Wide(w) => w[i],
        }
    }

    fn series_at(&self, i: usize) -> SeriesId {
        match &self.entries {
            Entries::Packed(p) => p.series_base + SeriesId::from(p.entries[i].series),
            Entries::Wide(w) => w[i].series,
        }
    }

    /// Distinct series ids, ascending.
    pub(crate) fn series_ids(&self) -> impl Iterator<Item = SeriesId> + '_ {
        let mut last = None;
        (0..self.len()).filter_map(move |i| {
            let series = self.series_at(i);
            if last == Some(series) {
                None
            } else {
                last = Some(series);
                Some(series)
            }
        })
    }

    /// Blocks of `series`, in time order.
    pub(crate) fn blocks_of(
        &self,
        series: SeriesId,
    ) -> impl ExactSizeIterator<Item = BlockRef> + '_ {
        self.series_range(series).map(move |i| self.get(i))
    }

    /// Positions of the entries of `series`: one binary search for the first, then a
    /// short scan (a series has few blocks per part).
    fn series_range(&self, series: SeriesId) -> Range<usize> {
        match &self.entries {
            Entries::Packed(p) => {
                let Some(rel) = series
                    .checked_sub(p.series_base)
                    .and_then(|d| u32::try_from(d).ok())
                else {
                    return 0..0;
                };
                let lo = p.entries.partition_point(|e| e.series < rel);
                let n = p.entries[lo..]
                    .iter()
                    .take_while(|e| e.series == rel)
                    .count();
                lo..lo + n
            }
            Entries::Wide(w) => {
                let lo = w.partition_point(|b| b.series < series);
                let n = w[lo..].iter().take_while(|b| b.series == series).count();
                lo..lo + n
            }
        }
    }

    /// Heap bytes held by the entries (for size measurements in tests).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        match &self.entries {
            Entries::Packed(p) => p.entries.capacity() * std::mem::size_of::<PackedRef>(),
            Entries::Wide(w) => w.capacity() * std::mem::size_of::<BlockRef>(),
        }
    }

    #[cfg(test)]
    fn is_packed(&self) -> bool {
        matches!(self.entries, Entries::Packed(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference lookup: every entry of `series` in a sorted `Vec<BlockRef>`.
    fn reference_blocks(index: &[BlockRef], series: SeriesId) -> Vec<BlockRef> {
        index
            .iter()
            .filter(|b| b.series == series)
            .copied()
            .collect()
    }

    fn build(ts_base: i64, refs: &[BlockRef]) -> BlockIndex {
        let mut index = BlockIndex::with_capacity(ts_base, refs.len());
        for b in refs {
            index.push(*b);
        }
        index.shrink_to_fit();
        index
    }

    fn assert_same(index: &BlockIndex, refs: &[BlockRef]) {
        assert_eq!(index.len(), refs.len());
        let all: Vec<BlockRef> = (0..index.len()).map(|i| index.get(i)).collect();
        assert_eq!(all, refs);
        let mut ids: Vec<SeriesId> = refs.iter().map(|b| b.series).collect();
        ids.dedup();
        assert_eq!(index.series_ids().collect::<Vec<_>>(), ids);
        for &s in &ids {
            for probe in [s, s.wrapping_add(1), s.wrapping_sub(1)] {
                let got: Vec<BlockRef> = index.blocks_of(probe).collect();
                assert_eq!(got, reference_blocks(refs, probe), "series {probe}");
            }
        }
    }

    /// Sorted random entries; `wide` widens the ranges so some parts cannot pack.
    fn refs_strategy() -> impl Strategy<Value = (i64, Vec<BlockRef>)> {
        let field_ranges = prop_oneof![
            3 => Just((1_000u64, 100_000i64, 1u64 << 20, 10_000u32)),
            1 => Just((u64::MAX, i64::MAX, u64::MAX, u32::MAX)),
        ];
        (field_ranges, -10i64..10)
            .prop_flat_map(|((series_r, ts_r, off_r, count_r), ts_base_shift)| {
                let entry = (
                    0..=series_r,
                    0..=ts_r,
                    0..=ts_r,
                    0..=off_r,
                    any::<u32>(),
                    0..=count_r,
                    any::<u32>(),
                    0u8..3,
                );
                (Just(ts_base_shift), prop::collection::vec(entry, 0..200))
            })
            .prop_map(|(shift, raw)| {
                let mut refs: Vec<BlockRef> = raw
                    .into_iter()
                    .map(|(series, min_ts, extra, offset, len, count, crc, kind)| {
                        let min_ts = min_ts.wrapping_add(1_795_000_000_000);
                        BlockRef {
                            series,
                            min_ts,
                            max_ts: min_ts.saturating_add(extra),
                            offset,
                            len,
                            count,
                            crc,
                            kind,
                        }
                    })
                    .collect();
                refs.sort_by_key(|b| (b.series, b.min_ts));
                let min_ts = refs.iter().map(|b| b.min_ts).min().unwrap_or(0);
                // A base above some entry's min time forces the wide fallback.
                (min_ts.saturating_add(shift.max(0)), refs)
            })
    }

    proptest! {
        #[test]
        fn packed_index_returns_exactly_the_pushed_block_refs((ts_base, refs) in refs_strategy()) {
            assert_same(&build(ts_base, &refs), &refs);
        }
    }

    fn scrape_like_part(series: u64, first_series: u64) -> Vec<BlockRef> {
        let mut offset = 0;
        (0..series)
            .map(|i| {
                let b = BlockRef {
                    series: first_series + i * 3,
                    min_ts: 1_795_000_000_000 + (i % 15) as i64 * 1000,
                    max_ts: 1_795_001_800_000 + (i % 15) as i64 * 1000,
                    offset,
                    len: 150 + (i % 40) as u32,
                    count: 120,
                    crc: i as u32 ^ 0x9e37_79b9,
                    kind: 1,
                };
                offset += u64::from(b.len);
                b
            })
            .collect()
    }

    #[test]
    fn a_scrape_like_part_packs_to_28_bytes_per_block() {
        let refs = scrape_like_part(230_000, 5_000_000);
        let index = build(refs[0].min_ts, &refs);
        assert!(index.is_packed());
        assert_eq!(index.heap_bytes(), refs.len() * 28);
        assert_eq!(
            refs.len() * std::mem::size_of::<BlockRef>(),
            refs.len() * 48,
            "the unpacked form this replaces"
        );
        let all: Vec<BlockRef> = (0..index.len()).map(|i| index.get(i)).collect();
        assert_eq!(all, refs);
        for b in refs.iter().step_by(997) {
            assert_eq!(index.blocks_of(b.series).collect::<Vec<_>>(), vec![*b]);
            assert_eq!(index.blocks_of(b.series + 1).len(), 0);
        }
        assert_eq!(index.series_ids().count(), refs.len());
    }

    #[test]
    fn entries_that_do_not_pack_switch_the_part_to_wide_entries() {
        let mut refs = scrape_like_part(10, 1);
        refs[7].offset = 1 << 41;
        refs[8].count = 70_000;
        let index = build(refs[0].min_ts, &refs);
        assert!(!index.is_packed());
        assert_same(&index, &refs);
        // A series id far above the first one, and a min time below the base.
        let edits: [(usize, fn(&mut BlockRef)); 2] =
            [(5, |b| b.series = u64::MAX), (3, |b| b.min_ts = -1)];
        for (i, edit) in edits {
            let mut refs = scrape_like_part(10, 1);
            edit(&mut refs[i]);
            refs.sort_by_key(|b| (b.series, b.min_ts));
            let index = build(0, &refs);
            assert!(!index.is_packed());
            assert_same(&index, &refs);
        }
    }
}
