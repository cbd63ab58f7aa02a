//! Byte-level helpers shared by the WAL, the series registry and part files:
//! little-endian integers, LEB128 varints, length-prefixed strings and label sets,
//! and CRC-framed records.

use tidemark_model::{Label, Labels, Tenant};

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_tenant(out: &mut Vec<u8>, t: Tenant) {
    put_u32(out, t.account_id);
    put_u32(out, t.project_id);
}

pub(crate) fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.len() as u64);
    for l in labels {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// [`put_labels`] for borrowed pairs already in the [`Labels`] form (same bytes).
pub(crate) fn put_label_pairs(out: &mut Vec<u8>, pairs: &[(&str, &str)]) {
    put_uvarint(out, pairs.len() as u64);
    for (name, value) in pairs {
        put_str(out, name);
        put_str(out, value);
    }
}

/// A cursor over a byte slice whose reads fail (rather than panic) on truncation.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A decoding failure with the offset where it happened, relative to the reader's start.
#[derive(Debug)]
pub(crate) struct WireError {
    pub offset: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn err(&self, reason: &'static str) -> WireError {
        WireError {
            offset: self.pos,
            reason,
        }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.data.len() - self.pos < n {
            return Err(self.err("unexpected end of data"));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, WireError> {
        Ok(self.u64()? as i64)
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    /// A count that must fit in the remaining bytes at `min_bytes_each`, which stops a
    /// corrupt length from causing a huge allocation.
    pub(crate) fn count(&mut self, min_bytes_each: usize) -> Result<usize, WireError> {
        let n = self.uvarint()?;
        let remaining = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(min_bytes_each.max(1) as u64) > remaining {
            return Err(self.err("count exceeds remaining data"));
        }
        Ok(n as usize)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, WireError> {
        let n = self.count(1)?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| self.err("invalid UTF-8"))
    }

    pub(crate) fn tenant(&mut self) -> Result<Tenant, WireError> {
        Ok(Tenant::new(self.u32()?, self.u32()?))
    }

    pub(crate) fn labels(&mut self) -> Result<Labels, WireError> {
        let n = self.count(2)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?;
            let value = self.str()?;
            v.push(Label::new(name, value));
        }
        Ok(Labels::from_vec(v))
    }
}

/// Frame header size: payload length and CRC32, both u32 little-endian.
pub(crate) const FRAME_HEADER: usize = 8;

/// Appends `[len u32][crc32 u32][payload]`.
pub(crate) fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    put_u32(out, payload.len() as u32);
    put_u32(out, crc32fast::hash(payload));
    out.extend_from_slice(payload);
}

/// Outcome of reading one frame from a log.
pub(crate) enum Frame<'a> {
    Ok(&'a [u8]),
    /// The log ends here (cleanly or with a torn, partially written frame).
    End,
    /// A complete frame whose checksum does not match.
    Corrupt(&'static str),
}

/// Reads the frame at `data[pos..]`; on success advances `pos`.
pub(crate) fn read_frame<'a>(data: &'a [u8], pos: &mut usize, max_len: usize) -> Frame<'a> {
    let rest = &data[*pos..];
    if rest.len() < FRAME_HEADER {
        return Frame::End;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len > max_len {
        return Frame::Corrupt("frame length out of range");
    }
    if rest.len() < FRAME_HEADER + len {
        return Frame::End;
    }
    let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Frame::Corrupt("frame checksum mismatch");
    }
    *pos += FRAME_HEADER + len;
    Frame::Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "näive")]);
        let mut b = Vec::new();
        put_uvarint(&mut b, 300);
        put_i64(&mut b, -5);
        put_tenant(&mut b, Tenant::new(7, 9));
        put_labels(&mut b, &labels);
        let mut r = Reader::new(&b);
        assert_eq!(r.uvarint().unwrap(), 300);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.tenant().unwrap(), Tenant::new(7, 9));
        assert_eq!(r.labels().unwrap(), labels);
        assert!(r.is_empty());
        let mut short = Reader::new(&b[..b.len() - 1]);
        short.uvarint().unwrap();
        short.i64().unwrap();
        short.tenant().unwrap();
        assert!(short.labels().is_err());
    }

    #[test]
    fn frames_detect_torn_and_corrupt_records() {
        let mut log = Vec::new();
        put_frame(&mut log, b"hello");
        put_frame(&mut log, b"world");
        let mut pos = 0;
        assert!(matches!(
            read_frame(&log, &mut pos, 100),
            Frame::Ok(b"hello")
        ));
        let torn = &log[..log.len() - 2];
        let mut p2 = pos;
        assert!(matches!(read_frame(torn, &mut p2, 100), Frame::End));
        let mut bad = log.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(read_frame(&bad, &mut pos, 100), Frame::Corrupt(_)));
    }
}
