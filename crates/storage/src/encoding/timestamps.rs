//! Timestamp codecs: the integer-sequence codecs, chosen per block.
//!
//! A fixed scrape interval becomes `Linear` (first timestamp + interval, ~8 bytes
//! for the whole block); jittered intervals usually become bit-packed offsets from a
//! fitted grid (0-3 ms of jitter: 2 bits a sample); irregular ones varints.

use super::intseq::{decode_ints, encode_ints, IntSeqCodec};
use super::varint::ByteReader;
use super::EncodingError;

/// Appends `timestamps` (non-empty) and returns the codec id for the block header.
pub fn encode_timestamps(timestamps: &[i64], out: &mut Vec<u8>) -> u8 {
    encode_ints(timestamps, out) as u8
}

/// Appends `n` (≥ 1) timestamps stored with codec `id`.
pub fn decode_timestamps(
    id: u8,
    n: usize,
    r: &mut ByteReader<'_>,
    out: &mut Vec<i64>,
) -> Result<(), EncodingError> {
    let codec = IntSeqCodec::from_id(id).map_err(|_| EncodingError::UnknownTimestampCodec(id))?;
    let start = out.len();
    out.resize(start + n, 0);
    decode_ints(codec, r, &mut out[start..], |t| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codec_is_reported_as_a_timestamp_error() {
        let err = decode_timestamps(0, 1, &mut ByteReader::new(&[0]), &mut Vec::new());
        assert_eq!(err, Err(EncodingError::UnknownTimestampCodec(0)));
    }

    #[test]
    fn fixed_interval_block_round_trips() {
        let ts: Vec<i64> = (0..8192).map(|i| 1_700_000_000_000 + 15_000 * i).collect();
        let mut out = Vec::new();
        let id = encode_timestamps(&ts, &mut out);
        let mut back = Vec::new();
        decode_timestamps(id, ts.len(), &mut ByteReader::new(&out), &mut back).unwrap();
        assert_eq!(back, ts);
    }
}
