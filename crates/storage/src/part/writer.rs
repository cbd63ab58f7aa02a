//! Writing a part atomically: everything goes into `<partition>/.tmp-<seq>/`, is
//! fsynced, then renamed to `<partition>/<seq>/` and the partition directory fsynced.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tidemark_model::{HistogramSample, Sample, SampleKind};

use super::{
    block_index, BlockRef, Part, PartMeta, BLOCKS_FILE, INDEX_FILE, INDEX_MAGIC, META_FILE,
    TMP_PREFIX,
};
use crate::encoding::{self, MAX_BLOCK_SAMPLES};
use crate::fsutil::{self, io_err};
use crate::series::SeriesId;
use crate::time::Day;
use crate::{StorageError, FORMAT_VERSION};

pub(crate) fn part_dir_name(seq: u64) -> String {
    format!("{seq:016x}")
}

pub(crate) struct PartWriter {
    partition_dir: PathBuf,
    tmp_dir: PathBuf,
    blocks: BufWriter<File>,
    offset: u64,
    index: Vec<BlockRef>,
    meta: PartMeta,
    last_series: Option<SeriesId>,
    scratch: Vec<u8>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl PartWriter {
    pub(crate) fn create(
        partition_dir: &Path,
        seq: u64,
        level: u32,
        day: Day,
    ) -> Result<PartWriter, StorageError> {
        fsutil::create_dir_all(partition_dir)?;
        let tmp_dir = partition_dir.join(format!("{TMP_PREFIX}{}", part_dir_name(seq)));
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
        }
        fs::create_dir(&tmp_dir).map_err(io_err(&tmp_dir))?;
        let blocks_path = tmp_dir.join(BLOCKS_FILE);
        let blocks = File::create(&blocks_path).map_err(io_err(&blocks_path))?;
        Ok(PartWriter {
            partition_dir: partition_dir.to_path_buf(),
            tmp_dir,
            blocks: BufWriter::with_capacity(1 << 20, blocks),
            offset: 0,
            index: Vec::new(),
            meta: PartMeta {
                format_version: FORMAT_VERSION,
                seq,
                level,
                day,
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                samples: 0,
                blocks: 0,
                series: 0,
                max_series_id: 0,
                replaces: Vec::new(),
            },
            last_series: None,
            scratch: Vec::new(),
            ts: Vec::new(),
            vals: Vec::new(),
        })
    }

    /// Adds one series. Calls must come in ascending series id order, each with
    /// samples sorted by strictly increasing timestamp.
    pub(crate) fn add_series(
        &mut self,
        series: SeriesId,
        samples: &[Sample],
    ) -> Result<(), StorageError> {
        if samples.is_empty() {
            return Ok(());
        }
        debug_assert!(
            self.last_series.is_none_or(|l| l < series),
            "series must be added in id order"
        );
        debug_assert!(samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        self.last_series = Some(series);
        self.meta.series += 1;
        self.meta.max_series_id = self.meta.max_series_id.max(series);
        for chunk in samples.chunks(MAX_BLOCK_SAMPLES) {
            self.ts.clear();
            self.vals.clear();
            self.ts.extend(chunk.iter().map(|s| s.timestamp));
            self.vals.extend(chunk.iter().map(|s| s.value));
            self.scratch.clear();
            encoding::encode_block(&self.ts, &self.vals, &mut self.scratch);
            let (min_ts, max_ts) = (chunk[0].timestamp, chunk[chunk.len() - 1].timestamp);
            self.write_scratch_block(series, min_ts, max_ts, chunk.len(), SampleKind::Float)?;
        }
        Ok(())
    }

    /// Appends the block encoded in `scratch` to blocks.bin and records it in the
    /// part's index and metadata.
    fn write_scratch_block(
        &mut self,
        series: SeriesId,
        min_ts: i64,
        max_ts: i64,
        count: usize,
        kind: SampleKind,
    ) -> Result<(), StorageError> {
        let path = self.tmp_dir.join(BLOCKS_FILE);
        self.blocks
            .write_all(&self.scratch)
            .map_err(io_err(&path))?;
        let block = BlockRef {
            series,
            min_ts,
            max_ts,
            offset: self.offset,
            len: self.scratch.len() as u32,
            count: count as u32,
            crc: crc32fast::hash(&self.scratch),
            kind: kind as u8,
        };
        self.offset += self.scratch.len() as u64;
        self.meta.min_ts = self.meta.min_ts.min(min_ts);
        self.meta.max_ts = self.meta.max_ts.max(max_ts);
        self.meta.samples += count as u64;
        self.index.push(block);
        Ok(())
    }

    /// Adds the native histogram samples of one series (sorted by strictly
    /// increasing timestamp) as blocks of kind `Histogram`. It may directly follow
    /// [`PartWriter::add_series`] for the same id (a series with floats at some
    /// timestamps and histograms at others); otherwise ids must ascend as there.
    pub(crate) fn add_histograms(
        &mut self,
        series: SeriesId,
        samples: &[HistogramSample],
    ) -> Result<(), StorageError> {
        if samples.is_empty() {
            return Ok(());
        }
        debug_assert!(
            self.last_series.is_none_or(|l| l <= series),
            "series must be added in id order"
        );
        debug_assert!(samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        if self.last_series != Some(series) {
            self.meta.series += 1;
        }
        self.last_series = Some(series);
        self.meta.max_series_id = self.meta.max_series_id.max(series);
        let first_of_series = self.index.partition_point(|b| b.series < series);
        for chunk in samples.chunks(encoding::MAX_HISTOGRAM_BLOCK_SAMPLES) {
            self.scratch.clear();
            encoding::encode_histogram_block(chunk, &mut self.scratch);
            let (min_ts, max_ts) = (chunk[0].timestamp, chunk[chunk.len() - 1].timestamp);
            self.write_scratch_block(series, min_ts, max_ts, chunk.len(), SampleKind::Histogram)?;
        }
        // The index is ordered by (series, min time) whatever the kind; block offsets
        // need no order (entries store them as signed deltas).
        self.index[first_of_series..].sort_by_key(|b| b.min_ts);
        Ok(())
    }

    /// Abandons the part, removing its temporary directory.
    pub(crate) fn discard(self) {
        let _ = fs::remove_dir_all(&self.tmp_dir);
    }

    /// Makes the part durable and visible. Returns `None` (and leaves nothing behind)
    /// when no samples were added.
    pub(crate) fn finish(mut self, replaces: Vec<u64>) -> Result<Option<Part>, StorageError> {
        if self.index.is_empty() {
            self.discard();
            return Ok(None);
        }
        let blocks_path = self.tmp_dir.join(BLOCKS_FILE);
        self.blocks.flush().map_err(io_err(&blocks_path))?;
        self.blocks
            .get_ref()
            .sync_all()
            .map_err(io_err(&blocks_path))?;

        self.meta.blocks = self.index.len() as u64;
        self.meta.replaces = replaces;
        let mut index = Vec::with_capacity(8 + self.index.len() * 16);
        index.extend_from_slice(INDEX_MAGIC);
        index.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        block_index::encode(&self.index, &mut index);
        index.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
        write_synced(&self.tmp_dir.join(INDEX_FILE), &index)?;
        write_synced(&self.tmp_dir.join(META_FILE), &self.meta.encode())?;
        fsutil::sync_dir(&self.tmp_dir)?;

        let final_dir = self.partition_dir.join(part_dir_name(self.meta.seq));
        fs::rename(&self.tmp_dir, &final_dir).map_err(io_err(&final_dir))?;
        fsutil::sync_dir(&self.partition_dir)?;
        Part::open(&final_dir).map(Some)
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_part_reads_back_and_detects_flipped_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PartWriter::create(dir.path(), 5, 0, 0).unwrap();
        let long: Vec<Sample> = (0..20_000).map(|i| Sample::new(i * 10, i as f64)).collect();
        w.add_series(1, &[Sample::new(5, tidemark_model::STALE_NAN)])
            .unwrap();
        w.add_series(3, &long).unwrap();
        let part = w.finish(vec![]).unwrap().unwrap();
        assert_eq!(part.series_ids().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(
            part.blocks_of(3).len(),
            3,
            "20000 samples need three blocks"
        );
        let mut got = Vec::new();
        part.read_series(3, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_eq!(got, long);
        let mut stale = Vec::new();
        part.read_series(1, 0, 10, &mut stale).unwrap();
        assert!(tidemark_model::is_stale_nan(stale[0].value));
        assert!(!dir.path().join(".tmp-0000000000000005").exists());

        let reopened = Part::open(&part.dir).unwrap();
        assert_eq!(reopened.meta, part.meta);

        let blocks = part.dir.join(BLOCKS_FILE);
        let mut data = fs::read(&blocks).unwrap();
        let off = part.blocks_of(3).nth(1).unwrap().offset as usize + 3;
        data[off] ^= 0x55;
        fs::write(&blocks, data).unwrap();
        let reopened = Part::open(&part.dir).unwrap();
        let err = reopened
            .read_series(3, i64::MIN, i64::MAX, &mut Vec::new())
            .unwrap_err();
        match err {
            StorageError::Corrupt { file, offset, .. } => {
                assert_eq!(file, blocks);
                assert_eq!(offset, part.blocks_of(3).nth(1).unwrap().offset);
            }
            other => panic!("unexpected {other}"),
        }
    }
}
