//! Immutable parts: the compressed, checksummed on-disk unit of data.
//!
//! A part is a directory `<partition>/<seq:016x>/` holding
//! * `blocks.bin`: encoded blocks back to back (≤ 8192 samples of one series each),
//! * `index.bin`: one delta-encoded entry per block (see [`block_index`]), sorted by
//!   (series id, min time), each with the block's CRC32, closed by a CRC32 over the
//!   whole index,
//! * `meta.txt`: see [`meta`].
//!
//! Parts are written into a temporary directory and renamed into place (see
//! [`writer`]), so a part either exists completely or not at all.

mod block_index;
mod compact_index;
mod meta;
mod reader;
mod writer;

pub(crate) use meta::PartMeta;
pub(crate) use reader::{BlockSlice, Part};
pub(crate) use writer::PartWriter;

use crate::series::SeriesId;

pub(crate) const BLOCKS_FILE: &str = "blocks.bin";
pub(crate) const INDEX_FILE: &str = "index.bin";
pub(crate) const META_FILE: &str = "meta.txt";
/// Prefix of directories being written; removed at open if a crash left them.
pub(crate) const TMP_PREFIX: &str = ".tmp-";
/// Prefix a directory is renamed to before it is deleted; removed at open.
pub(crate) const DELETING_PREFIX: &str = ".deleting-";

const INDEX_MAGIC: &[u8; 4] = b"TMPI";

/// Where one block lives and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRef {
    pub series: SeriesId,
    pub min_ts: i64,
    pub max_ts: i64,
    pub offset: u64,
    pub len: u32,
    pub count: u32,
    pub crc: u32,
    /// `tidemark_model::SampleKind` as stored; also recorded inside the block header.
    pub kind: u8,
}
