//! LEB128 varints, zigzag, and a bounds-checked reader.
//!
//! Hand-written rather than taken from a crate because the reader must turn every
//! out-of-bounds or overlong read into an [`EncodingError`] (never a panic) and the
//! short cases must stay inlined in the decode loops. Measured against the
//! `integer-encoding` crate's `decode_var` inside the real block decoder
//! (`benches/codec.rs`, CPU time, two alternating runs each): counters 158–202 vs
//! 128–149 M samples/s, gauges 398–410 vs 228–254, node_exporter mix 122–154 vs
//! 90–94. (In an isolated loop over one varint stream the crate was on par or
//! faster; in the decoder, with the 10-byte window below, this reader wins.)

use super::EncodingError;

/// Maps signed to unsigned so that small magnitudes of either sign stay small.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encoded length of `v` as an unsigned varint (1..=10).
#[inline]
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads a byte slice front to back; every read is bounds-checked.
pub struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(buf: &'a [u8]) -> ByteReader<'a> {
        ByteReader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8, EncodingError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(EncodingError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EncodingError> {
        if self.remaining() < n {
            return Err(EncodingError::Truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64, EncodingError> {
        let b = self.bytes(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("slice of 8 bytes")))
    }

    /// Reads a `len`-byte (1..=8) little-endian integer. With 8 bytes in hand it is
    /// one unaligned load and a mask instead of a variable-length copy.
    #[inline]
    pub fn uint_le(&mut self, len: usize, what: &'static str) -> Result<u64, EncodingError> {
        debug_assert!((1..=8).contains(&len));
        let mask = u64::MAX >> (64 - 8 * len);
        if let Some(chunk) = self.buf.get(self.pos..self.pos + 8) {
            let v = u64::from_le_bytes(chunk.try_into().expect("8-byte slice"));
            self.pos += len;
            return Ok(v & mask);
        }
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(self.bytes(len, what)?);
        Ok(u64::from_le_bytes(bytes))
    }

    #[inline]
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64, EncodingError> {
        // Fast path: with 10 bytes in hand no byte needs its own bounds check, and
        // the one- and two-byte forms (almost every delta) decode without a loop.
        match self.buf.get(self.pos..self.pos + MAX_VARINT_LEN) {
            Some(chunk) => {
                let chunk: &[u8; MAX_VARINT_LEN] = chunk.try_into().expect("10-byte slice");
                let (v, len) = decode_chunk(chunk)?;
                self.pos += len;
                Ok(v)
            }
            None => self.uvarint_near_end(what),
        }
    }

    #[inline]
    pub fn ivarint(&mut self, what: &'static str) -> Result<i64, EncodingError> {
        self.uvarint(what).map(unzigzag)
    }

    /// Byte-at-a-time decode for the last few bytes of the buffer.
    #[cold]
    fn uvarint_near_end(&mut self, what: &'static str) -> Result<u64, EncodingError> {
        let mut v = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let b = self.u8(what)?;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        // Unreachable: fewer than 10 bytes remain, so `u8` fails first.
        Err(EncodingError::InvalidVarint)
    }
}

const MAX_VARINT_LEN: usize = 10;

/// Decodes the varint at the start of `chunk`; returns it and its length.
///
/// One- and two-byte varints (nearly all stored differences) take inlined branches.
/// A branchless variant (length from the first stop bit, 7-bit groups packed with
/// mask-and-shift) measured slower in `benches/codec.rs`: 139 vs 167 M samples/s
/// decoding the counters set.
#[inline(always)]
fn decode_chunk(chunk: &[u8; MAX_VARINT_LEN]) -> Result<(u64, usize), EncodingError> {
    let b0 = chunk[0];
    if b0 < 0x80 {
        return Ok((b0 as u64, 1));
    }
    let b1 = chunk[1];
    if b1 < 0x80 {
        return Ok(((b0 & 0x7f) as u64 | (b1 as u64) << 7, 2));
    }
    decode_long(chunk)
}

/// Varints of 3 to 8 bytes without a branch per byte: the first stop bit gives the
/// length, then the 7-bit groups are gathered with fixed shifts. Wide deltas (e.g.
/// 43-bit decimal steps) vary in length from value to value, which made the
/// byte-at-a-time loop mispredict on nearly every value.
#[inline(never)]
fn decode_long(chunk: &[u8; MAX_VARINT_LEN]) -> Result<(u64, usize), EncodingError> {
    let word = u64::from_le_bytes(chunk[..8].try_into().expect("8 of 10 bytes"));
    let stops = !word & 0x8080_8080_8080_8080;
    if stops != 0 {
        let len = (stops.trailing_zeros() / 8 + 1) as usize;
        let word = if len == 8 {
            word
        } else {
            word & ((1u64 << (8 * len)) - 1)
        };
        let mut v = 0u64;
        for i in 0..8 {
            v |= ((word >> (8 * i)) & 0x7f) << (7 * i);
        }
        return Ok((v, len));
    }
    decode_nine_or_ten(chunk)
}

#[cold]
fn decode_nine_or_ten(chunk: &[u8; MAX_VARINT_LEN]) -> Result<(u64, usize), EncodingError> {
    let mut v = 0u64;
    for (i, &b) in chunk.iter().enumerate() {
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(EncodingError::InvalidVarint);
        }
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            return Ok((v, i + 1));
        }
    }
    Err(EncodingError::InvalidVarint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn uvarint_round_trips(v in any::<u64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            prop_assert_eq!(out.len(), uvarint_len(v));
            let mut r = ByteReader::new(&out);
            prop_assert_eq!(r.uvarint("v").unwrap(), v);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn sequences_round_trip_through_fast_and_tail_paths(vs in prop::collection::vec(any::<u64>(), 0..30)) {
            let mut out = Vec::new();
            for &v in &vs {
                put_uvarint(&mut out, v >> (v % 64));
            }
            let mut r = ByteReader::new(&out);
            for &v in &vs {
                prop_assert_eq!(r.uvarint("v").unwrap(), v >> (v % 64));
            }
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn short_little_endian_integers_read_in_and_near_the_end() {
        let data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut r = ByteReader::new(&data);
        assert_eq!(r.uint_le(2, "x"), Ok(0x0201));
        assert_eq!(r.uint_le(3, "x"), Ok(0x050403));
        assert_eq!(r.uint_le(4, "x"), Ok(0x09080706));
        assert_eq!(r.uint_le(2, "x"), Err(EncodingError::Truncated("x")));
        assert_eq!(r.uint_le(1, "x"), Ok(10));
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            ByteReader::new(&data).uint_le(8, "x"),
            Ok(0x0807060504030201)
        );
    }

    #[test]
    fn zigzag_keeps_small_magnitudes_small() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn truncated_and_overlong_varints_are_errors() {
        assert_eq!(
            ByteReader::new(&[]).uvarint("x"),
            Err(EncodingError::Truncated("x"))
        );
        assert_eq!(
            ByteReader::new(&[0x80, 0x80]).uvarint("x"),
            Err(EncodingError::Truncated("x"))
        );
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            ByteReader::new(&overflow).uvarint("x"),
            Err(EncodingError::InvalidVarint)
        );
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(ByteReader::new(&max).uvarint("x"), Ok(u64::MAX));
        let eleven = [0x80; 11];
        assert_eq!(
            ByteReader::new(&eleven).uvarint("x"),
            Err(EncodingError::InvalidVarint)
        );
        let mut padded = max.to_vec();
        padded.extend_from_slice(&[7; 10]);
        let mut r = ByteReader::new(&padded);
        assert_eq!(r.uvarint("x"), Ok(u64::MAX));
        assert_eq!(r.uvarint("x"), Ok(7));
    }
}
