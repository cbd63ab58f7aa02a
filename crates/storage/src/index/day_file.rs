//! Postings files: `index/postings/<YYYY-MM-DD>.postings`, the frozen postings of
//! every tenant of one day, so opening a directory loads the index instead of
//! rebuilding it from every series' labels.
//!
//! Layout (integers little-endian, `uvarint` = LEB128):
//!
//! ```text
//! "TMPX"  magic
//! u32     postings file version (1)
//! i64     day number (days since 1970-01-01 UTC)
//! uvarint tenant count; per tenant: u32 account, u32 project, uvarint section
//!         length, section (see `frozen.rs`)
//! u32     CRC32 of everything above
//! ```
//!
//! A file is a hint, never the truth: opening checks it against the day's parts and
//! the series registry and repairs what differs (see [`crate::index::SeriesIndex::open`]).

use std::path::{Path, PathBuf};

use tidemark_model::Tenant;

use crate::fsutil::{self, io_err};
use crate::index::frozen::FrozenPostings;
use crate::time::{self, Day};
use crate::wire::{self, Reader, WireError};
use crate::StorageError;

const MAGIC: &[u8; 4] = b"TMPX";
const VERSION: u32 = 1;
const EXTENSION: &str = "postings";

pub(crate) fn path(dir: &Path, day: Day) -> PathBuf {
    dir.join(format!("{}.{EXTENSION}", time::partition_dir_name(day)))
}

/// The day a file in the postings directory is for; `None` for anything else
/// (including the `.tmp` files an interrupted write leaves).
pub(crate) fn day_of_file(name: &str) -> Option<Day> {
    let stem = name.strip_suffix(&format!(".{EXTENSION}"))?;
    time::parse_partition_dir_name(stem)
}

/// Writes the day's sections atomically (temp file, fsync, rename, fsync directory).
pub(crate) fn write(
    dir: &Path,
    day: Day,
    sections: &[(Tenant, &FrozenPostings)],
) -> Result<(), StorageError> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    wire::put_u32(&mut out, VERSION);
    wire::put_i64(&mut out, day);
    wire::put_uvarint(&mut out, sections.len() as u64);
    let mut section = Vec::new();
    for (tenant, postings) in sections {
        wire::put_tenant(&mut out, *tenant);
        section.clear();
        postings.encode(&mut section);
        wire::put_uvarint(&mut out, section.len() as u64);
        out.extend_from_slice(&section);
    }
    fsutil::write_checksummed_atomic(&path(dir, day), &out)
}

/// Why a day's file could not be used.
#[derive(Debug)]
pub(crate) enum ReadError {
    Missing,
    /// Unreadable, failed its checksum, or does not decode.
    Corrupt(StorageError),
}

/// Reads and validates the day's file.
pub(crate) fn read(dir: &Path, day: Day) -> Result<Vec<(Tenant, FrozenPostings)>, ReadError> {
    let path = path(dir, day);
    let data = match fsutil::read_checksummed(&path) {
        Ok(d) => d,
        Err(StorageError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Missing)
        }
        Err(e) => return Err(ReadError::Corrupt(e)),
    };
    decode(&data, day)
        .map_err(|e| ReadError::Corrupt(fsutil::corrupt(&path, e.offset as u64, e.reason)))
}

fn decode(data: &[u8], day: Day) -> Result<Vec<(Tenant, FrozenPostings)>, WireError> {
    let mut r = Reader::new(data);
    let fail = |r: &Reader<'_>, reason| WireError {
        offset: r.position(),
        reason,
    };
    if r.bytes(4)? != MAGIC {
        return Err(fail(&r, "not a postings file (bad magic)"));
    }
    if r.u32()? != VERSION {
        return Err(fail(&r, "unsupported postings file version"));
    }
    if r.i64()? != day {
        return Err(fail(&r, "postings file is for another day"));
    }
    let n = r.count(9)?;
    let mut sections = Vec::with_capacity(n);
    for _ in 0..n {
        let tenant = r.tenant()?;
        let len = r.count(1)?;
        let start = r.position();
        let section = FrozenPostings::decode(r.bytes(len)?).map_err(|e| WireError {
            offset: start + e.offset,
            reason: e.reason,
        })?;
        sections.push((tenant, section));
    }
    if !r.is_empty() {
        return Err(fail(&r, "trailing bytes"));
    }
    Ok(sections)
}

/// Removes `path`, tolerating its absence.
pub(crate) fn remove(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}
