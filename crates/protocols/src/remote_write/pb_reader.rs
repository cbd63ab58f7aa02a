//! A minimal protobuf wire-format reader that hands out borrowed slices.
//!
//! It exists for the remote write 1.0 hot path ([`super::v1_borrowed`]), where prost's
//! owned `String`s cost two allocations per label of every sample. Its acceptance
//! rules follow prost 0.14 exactly (varint limits, key checks, group skipping and the
//! recursion limit), so switching decoders changes no accept/reject decision; the
//! differential tests in `v1_borrowed` and the `remote_write_v1` fuzz target check that.

use crate::DecodeError;

/// prost's `RECURSION_LIMIT`: nested messages plus skipped groups deeper than this fail.
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    SixtyFourBit,
    LengthDelimited,
    StartGroup,
    EndGroup,
    ThirtyTwoBit,
}

fn bad(msg: &str) -> DecodeError {
    DecodeError::BadProtobuf(msg.to_string())
}

/// A cursor over one message's bytes.
pub(crate) struct PbReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> PbReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> PbReader<'a> {
        PbReader { buf, pos: 0 }
    }

    pub(crate) fn has_remaining(&self) -> bool {
        self.pos < self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A base-128 varint of at most 10 bytes whose 10th byte is 0 or 1.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        // Keys and label lengths are almost always one byte.
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.varint_multi_byte(),
        }
    }

    fn varint_multi_byte(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(bad("buffer underflow in varint"));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    break;
                }
                return Ok(value);
            }
        }
        Err(bad("invalid varint"))
    }

    /// A field key: its number (≥ 1) and wire type.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), DecodeError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(bad("invalid key value"));
        }
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::SixtyFourBit,
            2 => WireType::LengthDelimited,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::ThirtyTwoBit,
            _ => return Err(bad("invalid wire type value")),
        };
        let field = (key >> 3) as u32;
        if field == 0 {
            return Err(bad("invalid tag value: 0"));
        }
        Ok((field, wire_type))
    }

    /// Fails unless a known field arrived with the wire type its declaration implies.
    #[inline]
    pub(crate) fn expect(got: WireType, want: WireType) -> Result<(), DecodeError> {
        if got == want {
            Ok(())
        } else {
            Err(bad("invalid wire type for a known field"))
        }
    }

    /// The bytes of a length-delimited field.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        if len > self.remaining() as u64 {
            return Err(bad("buffer underflow in a length-delimited field"));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// A `string` field, UTF-8 checked once, borrowed from the buffer.
    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| bad("invalid string value: data is not UTF-8 encoded"))
    }

    /// A little-endian 64-bit field (`double`, `fixed64`).
    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let Some(b) = self.buf.get(self.pos..self.pos + 8) else {
            return Err(bad("buffer underflow in a 64-bit field"));
        };
        self.pos += 8;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Skips an unknown field. `depth_left` is prost's remaining recursion budget at
    /// this nesting level; groups spend one each.
    pub(crate) fn skip(
        &mut self,
        field: u32,
        wire_type: WireType,
        depth_left: u32,
    ) -> Result<(), DecodeError> {
        if depth_left == 0 {
            return Err(bad("recursion limit reached"));
        }
        let len = match wire_type {
            WireType::Varint => {
                self.varint()?;
                0
            }
            WireType::ThirtyTwoBit => 4,
            WireType::SixtyFourBit => 8,
            WireType::LengthDelimited => self.varint()?,
            WireType::StartGroup => loop {
                let (inner, inner_type) = self.key()?;
                if inner_type == WireType::EndGroup {
                    if inner != field {
                        return Err(bad("unexpected end group tag"));
                    }
                    break 0;
                }
                self.skip(inner, inner_type, depth_left - 1)?;
            },
            WireType::EndGroup => return Err(bad("unexpected end group tag")),
        };
        if len > self.remaining() as u64 {
            return Err(bad("buffer underflow while skipping a field"));
        }
        self.pos += len as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_prost_limits() {
        assert_eq!(PbReader::new(&[0x96, 0x01]).varint().unwrap(), 150);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(PbReader::new(&max).varint().unwrap(), u64::MAX);
        let mut too_big = max;
        too_big[9] = 0x02;
        assert!(PbReader::new(&too_big).varint().is_err());
        assert!(PbReader::new(&[0xff; 11]).varint().is_err());
        assert!(PbReader::new(&[0x80]).varint().is_err(), "truncated");
    }

    #[test]
    fn keys_reject_field_zero_and_bad_wire_types() {
        assert_eq!(
            PbReader::new(&[0x0a]).key().unwrap(),
            (1, WireType::LengthDelimited)
        );
        assert!(PbReader::new(&[0x02]).key().is_err(), "field 0");
        assert!(PbReader::new(&[0x0e]).key().is_err(), "wire type 6");
    }

    #[test]
    fn groups_are_skipped_to_their_matching_end() {
        // field 5 start group, field 1 varint 7, field 5 end group, then field 2 varint.
        let mut r = PbReader::new(&[0x2b, 0x08, 0x07, 0x2c, 0x10, 0x01]);
        let (f, t) = r.key().unwrap();
        r.skip(f, t, RECURSION_LIMIT).unwrap();
        assert_eq!(r.key().unwrap(), (2, WireType::Varint));
        // Mismatched end group.
        let mut r = PbReader::new(&[0x2b, 0x34]);
        let (f, t) = r.key().unwrap();
        assert!(r.skip(f, t, RECURSION_LIMIT).is_err());
        // A lone end group.
        let mut r = PbReader::new(&[0x2c]);
        let (f, t) = r.key().unwrap();
        assert!(r.skip(f, t, RECURSION_LIMIT).is_err());
    }

    #[test]
    fn lengths_beyond_the_buffer_are_errors() {
        assert!(PbReader::new(&[0x05, b'a']).bytes().is_err());
        assert!(PbReader::new(&[1, 2, 3]).fixed64().is_err());
        assert!(
            PbReader::new(&[0x02, 0xc3, 0x28]).str().is_err(),
            "bad UTF-8"
        );
    }
}
