//! The body of `index.bin`: one variable-length entry per block, delta-encoded
//! against the previous entry.
//!
//! Entries are sorted by (series id, min time) and blocks are written back to back,
//! so most fields shrink to a byte or two: the series id is a small step, the block
//! offset is where the previous block ended, and blocks of neighbouring series cover
//! similar times. A fixed 48-byte entry per block cost ~0.4 bytes per sample on a
//! scrape workload (~100 samples per series per part); this encoding takes ~14 bytes.
//!
//! Per entry (`uvarint` = LEB128, `zvarint` = zigzag + LEB128):
//! ```text
//! uvarint series id − previous series id (first entry: the id)
//! zvarint min_ts − previous min_ts (first entry: min_ts)
//! uvarint max_ts − min_ts
//! zvarint offset − (previous offset + previous len) (first entry: offset)
//! uvarint len, uvarint sample count
//! u32 LE  CRC32 of the block, u8 sample kind
//! ```

use super::BlockRef;
use crate::wire::{self, Reader};

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends the encoded entries (which must be in index order) to `out`.
pub(crate) fn encode(entries: &[BlockRef], out: &mut Vec<u8>) {
    let mut prev: Option<&BlockRef> = None;
    for b in entries {
        let (series_base, ts_base, offset_base) = match prev {
            Some(p) => (p.series, p.min_ts, p.offset.wrapping_add(u64::from(p.len))),
            None => (0, 0, 0),
        };
        wire::put_uvarint(out, b.series.wrapping_sub(series_base));
        wire::put_uvarint(out, zigzag(b.min_ts.wrapping_sub(ts_base)));
        wire::put_uvarint(out, b.max_ts.wrapping_sub(b.min_ts) as u64);
        wire::put_uvarint(out, zigzag(b.offset.wrapping_sub(offset_base) as i64));
        wire::put_uvarint(out, u64::from(b.len));
        wire::put_uvarint(out, u64::from(b.count));
        wire::put_u32(out, b.crc);
        out.push(b.kind);
        prev = Some(b);
    }
}

/// Decodes exactly `count` entries from `body`, handing each to `visit` with its byte
/// offset in `body` (so the caller can build its own form without a second copy).
/// Errors give the offset of the entry that failed, and why; `visit` may fail too.
pub(crate) fn decode_each(
    body: &[u8],
    count: u64,
    mut visit: impl FnMut(usize, &BlockRef) -> Result<(), (usize, &'static str)>,
) -> Result<(), (usize, &'static str)> {
    let mut r = Reader::new(body);
    // Every entry takes at least 11 bytes, which bounds a corrupt count.
    if count.saturating_mul(11) > body.len() as u64 {
        return Err((0, "index is shorter than its block count"));
    }
    let mut prev: Option<BlockRef> = None;
    for _ in 0..count {
        let at = r.position();
        let entry = read_entry(&mut r, prev.as_ref()).map_err(|reason| (at, reason))?;
        visit(at, &entry)?;
        prev = Some(entry);
    }
    if !r.is_empty() {
        return Err((r.position(), "trailing bytes after the last entry"));
    }
    Ok(())
}

/// Decodes exactly `count` entries from `body` into a `Vec`.
#[cfg(test)]
pub(crate) fn decode(body: &[u8], count: u64) -> Result<Vec<BlockRef>, (usize, &'static str)> {
    let mut out = Vec::new();
    decode_each(body, count, |_, b| {
        out.push(*b);
        Ok(())
    })?;
    Ok(out)
}

fn read_entry(r: &mut Reader<'_>, prev: Option<&BlockRef>) -> Result<BlockRef, &'static str> {
    let truncated = |_| "truncated index entry";
    let (series_base, ts_base, offset_base) = match prev {
        Some(p) => (p.series, p.min_ts, p.offset.wrapping_add(u64::from(p.len))),
        None => (0, 0, 0),
    };
    let series = series_base.wrapping_add(r.uvarint().map_err(truncated)?);
    let min_ts = ts_base.wrapping_add(unzigzag(r.uvarint().map_err(truncated)?));
    let span = r.uvarint().map_err(truncated)?;
    let max_ts = i64::try_from(i128::from(min_ts) + i128::from(span))
        .map_err(|_| "block time range out of bounds")?;
    let offset = offset_base.wrapping_add(unzigzag(r.uvarint().map_err(truncated)?) as u64);
    let len =
        u32::try_from(r.uvarint().map_err(truncated)?).map_err(|_| "block length too large")?;
    let count = u32::try_from(r.uvarint().map_err(truncated)?)
        .map_err(|_| "block sample count too large")?;
    let crc = r.u32().map_err(truncated)?;
    let kind = r.u8().map_err(truncated)?;
    Ok(BlockRef {
        series,
        min_ts,
        max_ts,
        offset,
        len,
        count,
        crc,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(series: u64, min_ts: i64, max_ts: i64, offset: u64, len: u32) -> BlockRef {
        BlockRef {
            series,
            min_ts,
            max_ts,
            offset,
            len,
            count: 120,
            crc: 0xdead_beef,
            kind: 1,
        }
    }

    #[test]
    fn entries_round_trip_including_extremes() {
        let entries = vec![
            block(1, 1_795_000_000_000, 1_795_001_800_000, 0, 300),
            block(1, 1_795_001_800_001, 1_795_003_600_000, 300, 280),
            block(7, 1_795_000_000_015, 1_795_001_800_015, 580, 90),
            // Out-of-line offset and far-apart times still round-trip.
            block(u64::MAX - 1, i64::MIN, i64::MAX, 10, u32::MAX),
            block(u64::MAX, -5, -5, 0, 0),
        ];
        let mut body = Vec::new();
        encode(&entries, &mut body);
        assert_eq!(decode(&body, entries.len() as u64).unwrap(), entries);
        let (mut two, mut three) = (Vec::new(), Vec::new());
        encode(&entries[..2], &mut two);
        encode(&entries[..3], &mut three);
        let next_series_entry = three.len() - two.len();
        assert!(next_series_entry <= 16, "{next_series_entry} bytes");
    }

    #[test]
    fn truncation_and_wrong_counts_are_errors() {
        let entries = vec![block(1, 10, 20, 0, 30), block(2, 10, 20, 30, 30)];
        let mut body = Vec::new();
        encode(&entries, &mut body);
        for len in 0..body.len() {
            assert!(decode(&body[..len], 2).is_err(), "prefix of {len} bytes");
        }
        assert!(decode(&body, 1).is_err(), "trailing entry");
        assert!(decode(&body, 3).is_err(), "missing entry");
        assert!(decode(&body, u64::MAX).is_err());
    }
}
