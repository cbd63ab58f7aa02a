//! Opening a part and reading its blocks, verifying every checksum.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tidemark_model::{HistogramSample, Sample, SampleKind};

use super::compact_index::BlockIndex;
use super::{block_index, BlockRef, PartMeta, BLOCKS_FILE, INDEX_FILE, INDEX_MAGIC, META_FILE};
use crate::block_cache::{BlockCache, BlockKey, DecodedBlock};
use crate::encoding;
use crate::fsutil::{corrupt, io_err, read_checksummed};
use crate::series::SeriesId;
use crate::{StorageError, FORMAT_VERSION, MIN_READABLE_FORMAT_VERSION};

/// Source of [`Part::uid`]: never reused within the process.
static NEXT_PART_UID: AtomicU64 = AtomicU64::new(1);

/// An open part: metadata and block index in memory, blocks read on demand.
pub(crate) struct Part {
    /// Process-unique id of this open part; keys its blocks in the [`BlockCache`].
    uid: u64,
    pub dir: PathBuf,
    pub meta: PartMeta,
    index: BlockIndex,
    /// Native histogram blocks, kept apart so the float read path never sees them.
    histogram_index: BlockIndex,
    blocks: File,
    blocks_path: PathBuf,
    pub size_bytes: u64,
}

impl Part {
    /// Opens and verifies the metadata and index (not the blocks: those are checked
    /// when read, so opening stays fast).
    pub(crate) fn open(dir: &Path) -> Result<Part, StorageError> {
        let meta = PartMeta::read(&dir.join(META_FILE))?;
        let index_path = dir.join(INDEX_FILE);
        let raw = read_checksummed(&index_path)?;
        if raw.len() < 8 || &raw[..4] != INDEX_MAGIC {
            return Err(corrupt(&index_path, 0, "bad index header"));
        }
        let version = u32::from_le_bytes(raw[4..8].try_into().expect("4 bytes"));
        if !(MIN_READABLE_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(corrupt(
                &index_path,
                4,
                format!("unsupported index format version {version}, expected {MIN_READABLE_FORMAT_VERSION} to {FORMAT_VERSION}"),
            ));
        }
        let blocks_path = dir.join(BLOCKS_FILE);
        let blocks = File::open(&blocks_path).map_err(io_err(&blocks_path))?;
        let blocks_len = blocks.metadata().map_err(io_err(&blocks_path))?.len();
        // Entries are checked and packed as they are decoded: no full-size copy.
        // Every entry takes at least 11 bytes, which bounds a corrupt block count.
        let capacity = usize::try_from(meta.blocks)
            .unwrap_or(usize::MAX)
            .min(raw.len() / 11);
        let mut index = BlockIndex::with_capacity(meta.min_ts, capacity);
        let mut histogram_index = BlockIndex::with_capacity(meta.min_ts, 0);
        let mut prev: Option<(SeriesId, i64)> = None;
        block_index::decode_each(&raw[8..], meta.blocks, |at, b| {
            if b.offset
                .checked_add(u64::from(b.len))
                .is_none_or(|end| end > blocks_len)
            {
                return Err((at, "block extends past the end of blocks.bin"));
            }
            if prev.is_some_and(|p| p > (b.series, b.min_ts)) {
                return Err((at, "index entries out of order"));
            }
            prev = Some((b.series, b.min_ts));
            if b.kind == SampleKind::Histogram as u8 {
                histogram_index.push(*b);
            } else {
                index.push(*b);
            }
            Ok(())
        })
        .map_err(|(at, reason)| corrupt(&index_path, 8 + at as u64, reason))?;
        index.shrink_to_fit();
        histogram_index.shrink_to_fit();
        let size_bytes = blocks_len + raw.len() as u64;
        Ok(Part {
            uid: NEXT_PART_UID.fetch_add(1, Ordering::Relaxed),
            dir: dir.to_path_buf(),
            meta,
            index,
            histogram_index,
            blocks,
            blocks_path,
            size_bytes,
        })
    }

    /// Distinct series ids in this part, ascending.
    pub(crate) fn series_ids(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.index.series_ids()
    }

    /// Blocks of `series`, in time order.
    pub(crate) fn blocks_of(
        &self,
        series: SeriesId,
    ) -> impl ExactSizeIterator<Item = BlockRef> + '_ {
        self.index.blocks_of(series)
    }

    /// Appends the series' samples overlapping `[start, end]` (whole blocks, unfiltered) to `out`.
    pub(crate) fn read_series(
        &self,
        series: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), StorageError> {
        if self.meta.max_ts < start || self.meta.min_ts > end {
            return Ok(());
        }
        let mut raw = Vec::new();
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        for b in self.blocks_of(series) {
            if b.max_ts < start || b.min_ts > end {
                continue;
            }
            self.read_block(&b, &mut raw, &mut ts, &mut vals)?;
            out.extend(ts.iter().zip(&vals).map(|(&t, &v)| Sample::new(t, v)));
        }
        Ok(())
    }

    /// Appends to `out` the series' blocks overlapping `[start, end]`, in time order,
    /// each with the positions of its samples inside the range. Blocks come from
    /// `cache` when it holds them; the ones read are cached whole, so each block is
    /// read, checksummed and decoded once while it stays cached. Handing out the
    /// shared blocks (instead of copying their samples here) lets the caller size its
    /// output once for all parts and copy each sample once.
    pub(crate) fn series_blocks_cached(
        &self,
        series: SeriesId,
        start: i64,
        end: i64,
        cache: &BlockCache,
        out: &mut Vec<BlockSlice>,
    ) -> Result<(), StorageError> {
        if self.meta.max_ts < start || self.meta.min_ts > end {
            return Ok(());
        }
        let mut scratch: Option<(Vec<u8>, Vec<i64>, Vec<f64>)> = None;
        for b in self.blocks_of(series) {
            if b.max_ts < start || b.min_ts > end {
                continue;
            }
            let key = BlockKey {
                part: self.uid,
                offset: b.offset,
            };
            let block = match cache.get(&key) {
                Some(block) => block,
                None => {
                    let (raw, ts, vals) = scratch.get_or_insert_with(Default::default);
                    self.read_block(&b, raw, ts, vals)?;
                    let block: DecodedBlock = ts
                        .iter()
                        .zip(vals.iter())
                        .map(|(&t, &v)| Sample::new(t, v))
                        .collect();
                    cache.insert(key, Arc::clone(&block));
                    block
                }
            };
            let range = in_range(&block, start, end);
            if !range.is_empty() {
                out.push(BlockSlice { block, range });
            }
        }
        Ok(())
    }

    fn read_block(
        &self,
        b: &BlockRef,
        raw: &mut Vec<u8>,
        ts: &mut Vec<i64>,
        vals: &mut Vec<f64>,
    ) -> Result<(), StorageError> {
        raw.resize(b.len as usize, 0);
        self.blocks
            .read_exact_at(raw, b.offset)
            .map_err(io_err(&self.blocks_path))?;
        if crc32fast::hash(raw) != b.crc {
            return Err(corrupt(
                &self.blocks_path,
                b.offset,
                "block checksum mismatch",
            ));
        }
        ts.clear();
        vals.clear();
        encoding::decode_block(raw, ts, vals).map_err(|e| {
            corrupt(
                &self.blocks_path,
                b.offset,
                format!("undecodable block: {e}"),
            )
        })?;
        let consistent = ts.len() == b.count as usize
            && ts.first() == Some(&b.min_ts)
            && ts.last() == Some(&b.max_ts)
            && ts.windows(2).all(|w| w[0] < w[1]);
        if !consistent {
            return Err(corrupt(
                &self.blocks_path,
                b.offset,
                "block contents disagree with the index",
            ));
        }
        Ok(())
    }
}

/// The samples of a cached block a read wants: `block[range]`, in time order.
pub(crate) struct BlockSlice {
    pub block: DecodedBlock,
    pub range: Range<usize>,
}

impl BlockSlice {
    pub(crate) fn samples(&self) -> &[Sample] {
        &self.block[self.range.clone()]
    }
}

/// The positions of a time-sorted block's samples inside `[start, end]`: a cached
/// block is shared, so only the samples a query can use are copied out of it.
fn in_range(block: &[Sample], start: i64, end: i64) -> Range<usize> {
    let lo = block.partition_point(|s| s.timestamp < start);
    let hi = block.partition_point(|s| s.timestamp <= end).max(lo);
    lo..hi
}

/// Native histogram blocks (sample kind 2).
impl Part {
    /// Distinct series ids with histogram blocks in this part, ascending.
    pub(crate) fn histogram_series_ids(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.histogram_index.series_ids()
    }

    /// The series' histogram blocks that overlap `[start, end]`.
    fn histogram_blocks_overlapping(
        &self,
        series: SeriesId,
        start: i64,
        end: i64,
    ) -> impl Iterator<Item = BlockRef> + '_ {
        let part_overlaps = !self.histogram_index.is_empty()
            && self.meta.max_ts >= start
            && self.meta.min_ts <= end;
        part_overlaps
            .then(|| self.histogram_index.blocks_of(series))
            .into_iter()
            .flatten()
            .filter(move |b| b.max_ts >= start && b.min_ts <= end)
    }

    /// Appends the series' histogram samples of blocks overlapping `[start, end]`
    /// (whole blocks, unfiltered) to `out`, verifying checksums and the index.
    pub(crate) fn read_histograms(
        &self,
        series: SeriesId,
        start: i64,
        end: i64,
        out: &mut Vec<HistogramSample>,
    ) -> Result<(), StorageError> {
        let mut raw = Vec::new();
        for b in self.histogram_blocks_overlapping(series, start, end) {
            self.read_histogram_block(&b, &mut raw, out)?;
        }
        Ok(())
    }

    /// Like [`Part::read_histograms`], but serves blocks from `cache` when it holds
    /// them and caches the blocks it reads (decoding a histogram block allocates every
    /// sample's buckets, so handing out a cached copy again is much cheaper).
    pub(crate) fn read_histograms_cached(
        &self,
        series: SeriesId,
        start: i64,
        end: i64,
        cache: &BlockCache,
        out: &mut Vec<HistogramSample>,
    ) -> Result<(), StorageError> {
        let mut raw = Vec::new();
        for b in self.histogram_blocks_overlapping(series, start, end) {
            let key = BlockKey {
                part: self.uid,
                offset: b.offset,
            };
            if let Some(block) = cache.get_histograms(&key) {
                out.extend_from_slice(&block);
                continue;
            }
            let mut decoded = Vec::with_capacity(b.count as usize);
            self.read_histogram_block(&b, &mut raw, &mut decoded)?;
            out.extend_from_slice(&decoded);
            cache.insert_histograms(key, decoded.into());
        }
        Ok(())
    }

    /// Reads, verifies and decodes one histogram block, appending its samples to `out`
    /// (left as it was on error).
    fn read_histogram_block(
        &self,
        b: &BlockRef,
        raw: &mut Vec<u8>,
        out: &mut Vec<HistogramSample>,
    ) -> Result<(), StorageError> {
        raw.resize(b.len as usize, 0);
        self.blocks
            .read_exact_at(raw, b.offset)
            .map_err(io_err(&self.blocks_path))?;
        let bad = |reason: String| corrupt(&self.blocks_path, b.offset, reason);
        if crc32fast::hash(raw) != b.crc {
            return Err(bad("histogram block checksum mismatch".into()));
        }
        let first = out.len();
        if let Err(e) = encoding::decode_histogram_block(raw, out) {
            out.truncate(first);
            return Err(bad(format!("undecodable histogram block: {e}")));
        }
        let got = &out[first..];
        let consistent = got.len() == b.count as usize
            && got.first().map(|s| s.timestamp) == Some(b.min_ts)
            && got.last().map(|s| s.timestamp) == Some(b.max_ts)
            && got.windows(2).all(|w| w[0].timestamp < w[1].timestamp);
        if !consistent {
            out.truncate(first);
            return Err(bad(
                "histogram block contents disagree with the index".into()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_range_keeps_the_inclusive_window() {
        let block: Vec<Sample> = (0..10).map(|t| Sample::new(t * 10, t as f64)).collect();
        let ts = |r: Range<usize>| block[r].iter().map(|x| x.timestamp).collect::<Vec<_>>();
        assert_eq!(ts(in_range(&block, 20, 40)), vec![20, 30, 40]);
        assert_eq!(ts(in_range(&block, 15, 45)), vec![20, 30, 40]);
        assert_eq!(ts(in_range(&block, -5, 0)), vec![0]);
        assert!(in_range(&block, 91, 200).is_empty());
        assert!(in_range(&block, 41, 39).is_empty(), "empty range");
    }
}
