//! The block container: header, codec choice, zstd.
//!
//! Layout (all integers LEB128 varints unless noted):
//! ```text
//! u8 format version (1) | u8 sample kind | u8 timestamp codec | u8 value codec
//! u8 compression (0 = none, 1 = zstd) | sample count
//! none: body length, body
//! zstd: body length, compressed length, zstd frame
//! body = timestamp section ++ value section
//! ```
//! Every block states its own length, so blocks can be concatenated and a decoder
//! can tell a truncated block from a complete one.

use std::cell::RefCell;

use tidemark_model::SampleKind;

use super::decimal::DecimalBlock;
use super::timestamps::{decode_timestamps, encode_timestamps};
use super::values::{decode_values, encode_values, ValueCodec};
use super::varint::{put_uvarint, uvarint_len, ByteReader};
use super::EncodingError;

/// Version written in every block's first byte.
pub const FORMAT_VERSION: u8 = 1;

/// Most samples one block may hold.
pub const MAX_BLOCK_SAMPLES: usize = 8192;

const NO_COMPRESSION: u8 = 0;
const ZSTD: u8 = 1;

/// Bodies shorter than this are never worth a zstd frame (its header alone is ~6 bytes).
const MIN_ZSTD_BODY: usize = 32;

/// Upper bound of a valid body for `n` samples, to cap what a corrupt header can make
/// the decoder allocate. The worst case built in the tests (random 64-bit timestamps,
/// random 52-bit mantissas, a fifth raw exceptions) takes ~16.5 bytes a sample; the
/// bound leaves ample room above that.
fn max_body_len(n: usize) -> usize {
    n * 32 + 64
}

/// Higher levels only pay off once there is enough data for zstd to find matches.
/// On full 8192-sample blocks of the benchmark's node_exporter-like mix, levels
/// 1/3/5/9/15 gave 1.93/1.77/1.72/1.73/1.79 bytes/sample, so 5 is the ceiling.
fn zstd_level(body_len: usize) -> i32 {
    match body_len {
        0..=511 => 1,
        512..=4095 => 3,
        _ => 5,
    }
}

#[derive(Default)]
struct Scratch {
    body: Vec<u8>,
    compressed: Vec<u8>,
    decimal: DecimalBlock,
    compressor: Option<(i32, zstd::bulk::Compressor<'static>)>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Appends one block holding the samples of one series.
///
/// Any timestamps round-trip, but strictly increasing ones compress best.
///
/// # Panics
/// If the slices differ in length or hold 0 or more than [`MAX_BLOCK_SAMPLES`] samples:
/// callers split series into blocks, so this is a programming error.
pub fn encode_block(timestamps: &[i64], values: &[f64], out: &mut Vec<u8>) {
    assert_eq!(timestamps.len(), values.len(), "one value per timestamp");
    assert!(
        (1..=MAX_BLOCK_SAMPLES).contains(&timestamps.len()),
        "a block holds 1..={MAX_BLOCK_SAMPLES} samples, got {}",
        timestamps.len()
    );
    SCRATCH.with(|scratch| {
        let s = &mut *scratch.borrow_mut();
        s.body.clear();
        let ts_codec = encode_timestamps(timestamps, &mut s.body);
        let value_codec = encode_values(values, &mut s.decimal, &mut s.body) as u8;
        let compressed = compress(s);
        let compression = if compressed { ZSTD } else { NO_COMPRESSION };
        out.extend_from_slice(&[
            FORMAT_VERSION,
            SampleKind::Float as u8,
            ts_codec,
            value_codec,
            compression,
        ]);
        put_uvarint(out, timestamps.len() as u64);
        put_uvarint(out, s.body.len() as u64);
        if compressed {
            put_uvarint(out, s.compressed.len() as u64);
            out.extend_from_slice(&s.compressed);
        } else {
            out.extend_from_slice(&s.body);
        }
    });
}

/// The block header already stores the body length, so the frame need not.
fn new_compressor(level: i32) -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(level)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))?;
    Ok(c)
}

/// Compresses `s.body` into `s.compressed`; true if that saves bytes.
fn compress(s: &mut Scratch) -> bool {
    if s.body.len() < MIN_ZSTD_BODY {
        return false;
    }
    let level = zstd_level(s.body.len());
    let compressor = match &mut s.compressor {
        Some((current, c)) => {
            if *current != level && c.set_compression_level(level).is_err() {
                return false;
            }
            *current = level;
            c
        }
        slot @ None => match new_compressor(level) {
            Ok(c) => &mut slot.insert((level, c)).1,
            Err(_) => return false,
        },
    };
    s.compressed.clear();
    // A frame that does not fit in the body's size is not worth storing: zstd then
    // returns an error and the body is stored as is.
    s.compressed.reserve(s.body.len());
    match compressor.compress_to_buffer(&s.body, &mut s.compressed) {
        // The compressed form also stores the frame's length.
        Ok(len) => len + uvarint_len(len as u64) < s.body.len(),
        Err(_) => false,
    }
}

/// The fixed part of a block.
struct Header {
    ts_codec: u8,
    value_codec: ValueCodec,
    compression: u8,
    count: usize,
}

fn read_header(r: &mut ByteReader<'_>) -> Result<Header, EncodingError> {
    let version = r.u8("format version")?;
    if version != FORMAT_VERSION {
        return Err(EncodingError::UnsupportedVersion(version));
    }
    let kind = r.u8("sample kind")?;
    if kind != SampleKind::Float as u8 {
        return Err(EncodingError::UnsupportedSampleKind(kind));
    }
    let ts_codec = r.u8("timestamp codec")?;
    let value_codec = ValueCodec::from_id(r.u8("value codec")?)?;
    let compression = r.u8("compression")?;
    if compression != NO_COMPRESSION && compression != ZSTD {
        return Err(EncodingError::UnknownCompression(compression));
    }
    let count = r.uvarint("sample count")?;
    if count == 0 || count > MAX_BLOCK_SAMPLES as u64 {
        return Err(EncodingError::InvalidSampleCount(count));
    }
    Ok(Header {
        ts_codec,
        value_codec,
        compression,
        count: count as usize,
    })
}

/// Number of samples in the block, read from its header only.
pub fn block_sample_count(data: &[u8]) -> Result<usize, EncodingError> {
    read_header(&mut ByteReader::new(data)).map(|h| h.count)
}

/// Appends the block's samples to `timestamps` and `values`.
///
/// `data` must be exactly one block. On error both vectors are left as they were.
pub fn decode_block(
    data: &[u8],
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    let (ts_len, values_len) = (timestamps.len(), values.len());
    let result = decode_into(data, timestamps, values);
    if result.is_err() {
        timestamps.truncate(ts_len);
        values.truncate(values_len);
    }
    result
}

fn decode_into(
    data: &[u8],
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    let mut r = ByteReader::new(data);
    let h = read_header(&mut r)?;
    let body_len = r.uvarint("body length")?;
    if body_len > max_body_len(h.count) as u64 {
        return Err(EncodingError::Corrupt(
            "body length too large for the sample count",
        ));
    }
    let body_len = body_len as usize;
    if h.compression == NO_COMPRESSION {
        let body = r.bytes(body_len, "body")?;
        expect_end(&r)?;
        return decode_body(&h, body, timestamps, values);
    }
    let compressed_len = r.uvarint("compressed length")?;
    let frame = r.bytes(compressed_len.min(usize::MAX as u64) as usize, "zstd frame")?;
    expect_end(&r)?;
    SCRATCH.with(|scratch| {
        let s = &mut *scratch.borrow_mut();
        let decompressor = match &mut s.decompressor {
            Some(d) => d,
            slot @ None => slot.insert(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| EncodingError::Decompression(e.to_string()))?,
            ),
        };
        s.body.clear();
        s.body.reserve(body_len);
        decompressor
            .decompress_to_buffer(frame, &mut s.body)
            .map_err(|e| EncodingError::Decompression(e.to_string()))?;
        if s.body.len() != body_len {
            return Err(EncodingError::Corrupt(
                "decompressed length differs from the header",
            ));
        }
        decode_body(&h, &s.body, timestamps, values)
    })
}

fn expect_end(r: &ByteReader<'_>) -> Result<(), EncodingError> {
    match r.remaining() {
        0 => Ok(()),
        extra => Err(EncodingError::TrailingBytes(extra)),
    }
}

fn decode_body(
    h: &Header,
    body: &[u8],
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), EncodingError> {
    let mut r = ByteReader::new(body);
    decode_timestamps(h.ts_codec, h.count, &mut r, timestamps)?;
    decode_values(h.value_codec, h.count, &mut r, values)?;
    expect_end(&r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE: f64 = tidemark_model::STALE_NAN;

    fn encode(ts: &[i64], vs: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_block(ts, vs, &mut out);
        out
    }

    fn assert_round_trip(ts: &[i64], vs: &[f64]) -> usize {
        let block = encode(ts, vs);
        assert_eq!(block_sample_count(&block), Ok(ts.len()));
        let (mut back_ts, mut back_vs) = (vec![-1], vec![-1.0]);
        decode_block(&block, &mut back_ts, &mut back_vs).unwrap();
        assert_eq!(&back_ts[1..], ts);
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back_vs[1..]), bits(vs));
        block.len()
    }

    fn scrape_times(n: usize) -> Vec<i64> {
        (0..n as i64)
            .map(|i| 1_700_000_000_000 + 15_000 * i)
            .collect()
    }

    #[test]
    fn constant_series_at_fixed_interval_is_a_handful_of_bytes() {
        let len = assert_round_trip(&scrape_times(8192), &[1.0; 8192]);
        assert!(len <= 32, "{len} bytes");
    }

    #[test]
    fn counter_block_compresses_below_a_byte_per_sample() {
        let ts = scrape_times(1000);
        let mut total = 0.0;
        let vs: Vec<f64> = (0..1000)
            .map(|i| {
                total += [0.5, 1.25, 0.75, 2.0][i % 4];
                total
            })
            .collect();
        let len = assert_round_trip(&ts, &vs);
        assert!(len < 1000, "{len} bytes");
    }

    #[test]
    fn single_sample_and_extreme_timestamps_round_trip() {
        assert_round_trip(&[0], &[STALE]);
        assert_round_trip(&[i64::MIN, -1, i64::MAX], &[-0.0, f64::NAN, f64::INFINITY]);
        assert_round_trip(&[5, 3, 9], &[1.0, 2.0, 3.0]); // not increasing: still lossless
    }

    #[test]
    fn decoding_appends_to_existing_samples() {
        let block = encode(&[10, 20], &[1.0, 2.0]);
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        decode_block(&block, &mut ts, &mut vs).unwrap();
        decode_block(&block, &mut ts, &mut vs).unwrap();
        assert_eq!(ts, vec![10, 20, 10, 20]);
        assert_eq!(vs, vec![1.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn header_errors_are_specific() {
        let block = encode(&scrape_times(100), &[3.0; 100]);
        let with = |i: usize, b: u8| {
            let mut d = block.clone();
            d[i] = b;
            decode_block(&d, &mut Vec::new(), &mut Vec::new())
        };
        assert_eq!(with(0, 9), Err(EncodingError::UnsupportedVersion(9)));
        assert_eq!(with(1, 2), Err(EncodingError::UnsupportedSampleKind(2)));
        assert_eq!(with(2, 0), Err(EncodingError::UnknownTimestampCodec(0)));
        assert_eq!(with(3, 7), Err(EncodingError::UnknownValueCodec(7)));
        assert_eq!(with(4, 2), Err(EncodingError::UnknownCompression(2)));
        assert_eq!(with(5, 0), Err(EncodingError::InvalidSampleCount(0)));
        let mut long = block.clone();
        long.push(0);
        assert_eq!(
            decode_block(&long, &mut Vec::new(), &mut Vec::new()),
            Err(EncodingError::TrailingBytes(1))
        );
    }

    #[test]
    fn failed_decode_leaves_outputs_untouched() {
        let ts = scrape_times(500);
        let vs: Vec<f64> = (0..500).map(|i| (i as f64).sqrt()).collect();
        let mut block = encode(&ts, &vs);
        let last = block.len() - 1;
        block[last] ^= 0xff;
        let (mut out_ts, mut out_vs) = (vec![1], vec![1.0]);
        assert!(decode_block(&block, &mut out_ts, &mut out_vs).is_err());
        assert_eq!((out_ts, out_vs), (vec![1], vec![1.0]));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let ts: Vec<i64> = (0..300).map(|i| i * 15_000 + i % 7).collect();
        let vs: Vec<f64> = (0..300)
            .map(|i| {
                if i == 150 {
                    STALE
                } else {
                    (i % 13) as f64 * 0.1
                }
            })
            .collect();
        let block = encode(&ts, &vs);
        for len in 0..block.len() {
            assert!(
                decode_block(&block[..len], &mut Vec::new(), &mut Vec::new()).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    #[test]
    fn worst_case_blocks_stay_within_the_decoder_bound() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let n = MAX_BLOCK_SAMPLES;
        // Random 64-bit timestamps, 52-bit random decimal mantissas, a fifth NaNs with
        // random payloads stored as exceptions: nothing for any codec or zstd to find.
        let ts: Vec<i64> = (0..n).map(|_| rng.random()).collect();
        let vs: Vec<f64> = (0..n)
            .map(|i| match i % 5 {
                0 => f64::from_bits(rng.random::<u64>() | 0x7ff0_0000_0000_0001),
                _ => rng.random_range(-(1i64 << 52)..(1i64 << 52)) as f64 / 1e6,
            })
            .collect();
        let len = assert_round_trip(&ts, &vs);
        assert!(len <= max_body_len(n), "{len} bytes for {n} samples");
    }

    #[test]
    #[should_panic(expected = "a block holds")]
    fn empty_block_is_refused() {
        encode(&[], &[]);
    }

    fn timestamps_strategy() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            prop::collection::vec(any::<i64>(), 1..300),
            (any::<i64>(), prop::collection::vec(1i64..100_000, 0..300)).prop_map(
                |(start, steps)| {
                    let mut t = start;
                    std::iter::once(start)
                        .chain(steps.into_iter().map(|s| {
                            t = t.wrapping_add(s);
                            t
                        }))
                        .collect()
                }
            ),
        ]
    }

    fn value_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            (-100_000i64..100_000, 0i32..4).prop_map(|(d, p)| d as f64 / 10f64.powi(p)),
            Just(STALE),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
        ]
    }

    proptest! {
        #[test]
        fn random_blocks_round_trip_bit_exactly(
            (ts, vs) in timestamps_strategy().prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(value_strategy(), n))
            })
        ) {
            assert_round_trip(&ts, &vs);
        }

        #[test]
        fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = block_sample_count(&data);
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            if decode_block(&data, &mut ts, &mut vs).is_ok() {
                prop_assert_eq!(ts.len(), vs.len());
            } else {
                prop_assert!(ts.is_empty() && vs.is_empty());
            }
        }

        #[test]
        fn corrupted_blocks_never_panic(
            seed_len in 1usize..400,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let ts: Vec<i64> = (0..seed_len as i64).map(|i| i * 15_000 + i % 3).collect();
            let vs: Vec<f64> = (0..seed_len).map(|i| (i * i % 1000) as f64 / 8.0).collect();
            let mut block = encode(&ts, &vs);
            for (at, b) in flips {
                let i = at.index(block.len());
                block[i] = b;
            }
            let keep = cut.index(block.len() + 1);
            let _ = decode_block(&block[..keep], &mut Vec::new(), &mut Vec::new());
        }
    }
}
