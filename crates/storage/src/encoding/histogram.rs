//! Native histogram blocks: the samples of one series, column by column.
//!
//! Consecutive histograms of a series almost always share their *layout* (schema,
//! zero threshold, bucket spans, custom bounds) and every bucket is a counter, so the
//! block stores each layout once per run of samples that use it and then codes every
//! bucket as its own integer column over that run, with the same integer-sequence
//! codecs as timestamps (linear / delta / delta-of-delta / grid offsets). zstd then
//! squeezes the byte patterns left over.
//!
//! Layout (integers are LEB128 varints unless noted, `zvarint` = zigzag):
//! ```text
//! u8 block format version (1) | u8 sample kind (2 = histogram) | u8 timestamp codec
//! u8 count mode (1 = integer columns, 2 = float XOR columns) | u8 compression (0 none, 1 zstd)
//! sample count | body length | (zstd only: compressed length) | body or zstd frame
//!
//! body:
//!   timestamps                      integer-sequence codec named in the header
//!   n × u8 counter reset hint
//!   layout count L, then per layout:
//!     uvarint first sample (delta to the previous layout's first sample; first: 0)
//!     zvarint schema, u64 LE zero threshold bits
//!     positive spans, negative spans: uvarint count, per span zvarint offset, uvarint length
//!     custom bounds: uvarint count, u64 LE bits each
//!   sums                            XOR column (n values)
//!   per layout run (samples [first, next first)), per column in the order
//!   count, zero count, positive buckets, negative buckets:
//!     integer mode: u8 integer codec + integer sequence
//!     float mode:   XOR column
//! ```
//! Integer mode is chosen when every count of the block is an integer below 2^53 (what
//! integer histograms from the wire always are), so it is exact; anything else uses
//! float mode, which keeps every bit (NaN payloads and -0.0 included).

use tidemark_model::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, SampleKind};

use super::intseq::{decode_ints, encode_ints, IntSeqCodec};
use super::timestamps::{decode_timestamps, encode_timestamps};
use super::varint::{put_ivarint, put_uvarint, ByteReader};
use super::xor::{decode_xor, encode_xor};
use super::EncodingError;

/// Version written in every histogram block's first byte.
const BLOCK_VERSION: u8 = 1;

/// Most histogram samples one block holds. Histograms are ~10× larger than floats
/// decoded, so blocks are shorter than float blocks to keep a partial read cheap.
pub const MAX_HISTOGRAM_BLOCK_SAMPLES: usize = 2048;

const INTEGER_COUNTS: u8 = 1;
const FLOAT_COUNTS: u8 = 2;
const NO_COMPRESSION: u8 = 0;
const ZSTD: u8 = 1;
const ZSTD_LEVEL: i32 = 3;
/// A decoded body larger than this is refused (a corrupt header must not make the
/// decoder allocate without bound); a full block of 160-bucket float histograms
/// takes about 3 MiB.
const MAX_BODY_LEN: usize = 64 << 20;
/// Bucket columns one layout may describe (Prometheus caps native histograms at 160
/// buckets per side by default; custom-bucket histograms may have more).
const MAX_LAYOUT_BUCKETS: u64 = 1 << 16;

/// Largest integer every smaller magnitude of which an `f64` holds exactly.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// What may change between two samples without changing the column structure.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    schema: i32,
    zero_threshold_bits: u64,
    positive_spans: Vec<BucketSpan>,
    negative_spans: Vec<BucketSpan>,
    custom_values_bits: Vec<u64>,
}

impl Layout {
    fn of(h: &FloatHistogram) -> Layout {
        Layout {
            schema: h.schema,
            zero_threshold_bits: h.zero_threshold.to_bits(),
            positive_spans: h.positive_spans.clone(),
            negative_spans: h.negative_spans.clone(),
            custom_values_bits: h.custom_values.iter().map(|v| v.to_bits()).collect(),
        }
    }

    fn matches(&self, h: &FloatHistogram) -> bool {
        self.schema == h.schema
            && self.zero_threshold_bits == h.zero_threshold.to_bits()
            && self.positive_spans == h.positive_spans
            && self.negative_spans == h.negative_spans
            && self.custom_values_bits.len() == h.custom_values.len()
            && self
                .custom_values_bits
                .iter()
                .zip(&h.custom_values)
                .all(|(a, b)| *a == b.to_bits())
    }
}

fn span_buckets(spans: &[BucketSpan]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// Appends one block holding `samples` of one series.
///
/// # Panics
/// If `samples` is empty or longer than [`MAX_HISTOGRAM_BLOCK_SAMPLES`], or a
/// histogram's spans do not describe exactly its buckets: the storage engine
/// validates histograms on append, so either is a programming error.
pub fn encode_histogram_block(samples: &[HistogramSample], out: &mut Vec<u8>) {
    assert!(
        (1..=MAX_HISTOGRAM_BLOCK_SAMPLES).contains(&samples.len()),
        "a histogram block holds 1..={MAX_HISTOGRAM_BLOCK_SAMPLES} samples, got {}",
        samples.len()
    );
    for s in samples {
        assert!(
            span_buckets(&s.histogram.positive_spans) == s.histogram.positive_buckets.len() as u64
                && span_buckets(&s.histogram.negative_spans)
                    == s.histogram.negative_buckets.len() as u64,
            "histogram spans must describe its buckets"
        );
    }
    let mut body = Vec::new();
    let timestamps: Vec<i64> = samples.iter().map(|s| s.timestamp).collect();
    let ts_codec = encode_timestamps(&timestamps, &mut body);
    body.extend(samples.iter().map(|s| s.histogram.counter_reset_hint as u8));

    // Layout runs: (first sample, layout).
    let mut runs: Vec<(usize, Layout)> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        if runs.last().is_none_or(|(_, l)| !l.matches(&s.histogram)) {
            runs.push((i, Layout::of(&s.histogram)));
        }
    }
    put_uvarint(&mut body, runs.len() as u64);
    let mut prev_first = 0;
    for (first, layout) in &runs {
        put_uvarint(&mut body, (first - prev_first) as u64);
        prev_first = *first;
        put_layout(&mut body, layout);
    }
    let sums: Vec<f64> = samples.iter().map(|s| s.histogram.sum).collect();
    encode_xor(&sums, &mut body);

    let integer = samples
        .iter()
        .all(|s| counts_are_exact_integers(&s.histogram));
    let mode = if integer {
        INTEGER_COUNTS
    } else {
        FLOAT_COUNTS
    };
    let mut column = Vec::new();
    for (r, (first, _)) in runs.iter().enumerate() {
        let end = runs.get(r + 1).map_or(samples.len(), |(next, _)| *next);
        let run = &samples[*first..end];
        let h0 = &run[0].histogram;
        let columns = 2 + h0.positive_buckets.len() + h0.negative_buckets.len();
        for c in 0..columns {
            column.clear();
            column.extend(run.iter().map(|s| column_value(&s.histogram, c)));
            if integer {
                let ints: Vec<i64> = column.iter().map(|&v| v as i64).collect();
                let at = body.len();
                body.push(0);
                let codec = encode_ints(&ints, &mut body);
                body[at] = codec as u8;
            } else {
                encode_xor(&column, &mut body);
            }
        }
    }

    let compressed = zstd::bulk::compress(&body, ZSTD_LEVEL)
        .ok()
        .filter(|c| c.len() + 10 < body.len());
    out.extend_from_slice(&[
        BLOCK_VERSION,
        SampleKind::Histogram as u8,
        ts_codec,
        mode,
        if compressed.is_some() {
            ZSTD
        } else {
            NO_COMPRESSION
        },
    ]);
    put_uvarint(out, samples.len() as u64);
    put_uvarint(out, body.len() as u64);
    match compressed {
        Some(c) => {
            put_uvarint(out, c.len() as u64);
            out.extend_from_slice(&c);
        }
        None => out.extend_from_slice(&body),
    }
}

/// Column `c` of a histogram: 0 = count, 1 = zero count, then positive buckets,
/// then negative buckets.
fn column_value(h: &FloatHistogram, c: usize) -> f64 {
    match c {
        0 => h.count,
        1 => h.zero_count,
        _ if c - 2 < h.positive_buckets.len() => h.positive_buckets[c - 2],
        _ => h.negative_buckets[c - 2 - h.positive_buckets.len()],
    }
}

fn is_exact_integer(v: f64) -> bool {
    v.abs() < MAX_EXACT_INT && (v as i64) as f64 == v && v.to_bits() != (-0.0f64).to_bits()
}

fn counts_are_exact_integers(h: &FloatHistogram) -> bool {
    is_exact_integer(h.count)
        && is_exact_integer(h.zero_count)
        && h.positive_buckets.iter().all(|&v| is_exact_integer(v))
        && h.negative_buckets.iter().all(|&v| is_exact_integer(v))
}

fn put_spans(out: &mut Vec<u8>, spans: &[BucketSpan]) {
    put_uvarint(out, spans.len() as u64);
    for s in spans {
        put_ivarint(out, i64::from(s.offset));
        put_uvarint(out, u64::from(s.length));
    }
}

fn put_layout(out: &mut Vec<u8>, l: &Layout) {
    put_ivarint(out, i64::from(l.schema));
    out.extend_from_slice(&l.zero_threshold_bits.to_le_bytes());
    put_spans(out, &l.positive_spans);
    put_spans(out, &l.negative_spans);
    put_uvarint(out, l.custom_values_bits.len() as u64);
    for b in &l.custom_values_bits {
        out.extend_from_slice(&b.to_le_bytes());
    }
}

/// Appends the block's samples to `out`. On error `out` is left as it was.
pub fn decode_histogram_block(
    data: &[u8],
    out: &mut Vec<HistogramSample>,
) -> Result<(), EncodingError> {
    let before = out.len();
    let result = decode_into(data, out);
    if result.is_err() {
        out.truncate(before);
    }
    result
}

fn decode_into(data: &[u8], out: &mut Vec<HistogramSample>) -> Result<(), EncodingError> {
    let mut r = ByteReader::new(data);
    let version = r.u8("format version")?;
    if version != BLOCK_VERSION {
        return Err(EncodingError::UnsupportedVersion(version));
    }
    let kind = r.u8("sample kind")?;
    if kind != SampleKind::Histogram as u8 {
        return Err(EncodingError::UnsupportedSampleKind(kind));
    }
    let ts_codec = r.u8("timestamp codec")?;
    let mode = r.u8("count mode")?;
    if mode != INTEGER_COUNTS && mode != FLOAT_COUNTS {
        return Err(EncodingError::Corrupt("unknown histogram count mode"));
    }
    let compression = r.u8("compression")?;
    let n = r.uvarint("sample count")?;
    if n == 0 || n > MAX_HISTOGRAM_BLOCK_SAMPLES as u64 {
        return Err(EncodingError::InvalidSampleCount(n));
    }
    let n = n as usize;
    let body_len = r.uvarint("body length")?;
    if body_len > MAX_BODY_LEN as u64 {
        return Err(EncodingError::Corrupt("histogram block body too large"));
    }
    let body_len = body_len as usize;
    let decompressed;
    let body = match compression {
        NO_COMPRESSION => r.bytes(body_len, "body")?,
        ZSTD => {
            let len = r.uvarint("compressed length")?;
            let frame = r.bytes(len.min(usize::MAX as u64) as usize, "zstd frame")?;
            decompressed = zstd::bulk::decompress(frame, body_len)
                .map_err(|e| EncodingError::Decompression(e.to_string()))?;
            if decompressed.len() != body_len {
                return Err(EncodingError::Corrupt(
                    "decompressed length differs from the header",
                ));
            }
            &decompressed[..]
        }
        other => return Err(EncodingError::UnknownCompression(other)),
    };
    if r.remaining() != 0 {
        return Err(EncodingError::TrailingBytes(r.remaining()));
    }
    decode_body(body, n, ts_codec, mode == INTEGER_COUNTS, out)
}

fn decode_body(
    body: &[u8],
    n: usize,
    ts_codec: u8,
    integer: bool,
    out: &mut Vec<HistogramSample>,
) -> Result<(), EncodingError> {
    let mut r = ByteReader::new(body);
    let mut timestamps = Vec::with_capacity(n);
    decode_timestamps(ts_codec, n, &mut r, &mut timestamps)?;
    let hints = r.bytes(n, "counter reset hints")?;
    let layout_count = r.uvarint("layout count")?;
    if layout_count == 0 || layout_count > n as u64 {
        return Err(EncodingError::Corrupt(
            "histogram layout count out of range",
        ));
    }
    let mut runs: Vec<(usize, Layout)> = Vec::with_capacity(layout_count as usize);
    let mut first = 0u64;
    for i in 0..layout_count {
        let step = r.uvarint("layout start")?;
        first = first.saturating_add(step);
        if (i == 0 && step != 0) || (i > 0 && step == 0) || first >= n as u64 {
            return Err(EncodingError::Corrupt(
                "histogram layout starts out of order",
            ));
        }
        runs.push((first as usize, read_layout(&mut r)?));
    }
    let mut sums = Vec::with_capacity(n);
    decode_xor(n, &mut r, &mut sums)?;

    let start = out.len();
    for (i, &timestamp) in timestamps.iter().enumerate() {
        out.push(HistogramSample {
            timestamp,
            histogram: FloatHistogram {
                counter_reset_hint: hint_from_byte(hints[i])?,
                sum: sums[i],
                ..FloatHistogram::default()
            },
        });
    }
    let mut column: Vec<f64> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    for (ri, (first, layout)) in runs.iter().enumerate() {
        let end = runs.get(ri + 1).map_or(n, |(next, _)| *next);
        let len = end - first;
        let positive = span_buckets(&layout.positive_spans) as usize;
        let negative = span_buckets(&layout.negative_spans) as usize;
        let run = &mut out[start + first..start + end];
        for s in run.iter_mut() {
            let h = &mut s.histogram;
            h.schema = layout.schema;
            h.zero_threshold = f64::from_bits(layout.zero_threshold_bits);
            h.positive_spans = layout.positive_spans.clone();
            h.negative_spans = layout.negative_spans.clone();
            h.custom_values = layout
                .custom_values_bits
                .iter()
                .map(|&b| f64::from_bits(b))
                .collect();
            h.positive_buckets = Vec::with_capacity(positive);
            h.negative_buckets = Vec::with_capacity(negative);
        }
        for c in 0..2 + positive + negative {
            column.clear();
            if integer {
                let codec = IntSeqCodec::from_id(r.u8("bucket codec")?)?;
                ints.clear();
                ints.resize(len, 0);
                decode_ints(codec, &mut r, &mut ints, |v| v)?;
                column.extend(ints.iter().map(|&v| v as f64));
            } else {
                decode_xor(len, &mut r, &mut column)?;
            }
            for (s, &v) in run.iter_mut().zip(&column) {
                let h = &mut s.histogram;
                match c {
                    0 => h.count = v,
                    1 => h.zero_count = v,
                    _ if c - 2 < positive => h.positive_buckets.push(v),
                    _ => h.negative_buckets.push(v),
                }
            }
        }
    }
    if r.remaining() != 0 {
        return Err(EncodingError::TrailingBytes(r.remaining()));
    }
    Ok(())
}

fn hint_from_byte(b: u8) -> Result<CounterResetHint, EncodingError> {
    Ok(match b {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => return Err(EncodingError::Corrupt("unknown counter reset hint")),
    })
}

fn read_spans(r: &mut ByteReader<'_>) -> Result<Vec<BucketSpan>, EncodingError> {
    let count = r.uvarint("span count")?;
    // Every span takes at least two bytes.
    if count > r.remaining() as u64 / 2 {
        return Err(EncodingError::Corrupt("span count exceeds the block"));
    }
    let mut spans = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    for _ in 0..count {
        let offset = i32::try_from(r.ivarint("span offset")?)
            .map_err(|_| EncodingError::Corrupt("span offset out of range"))?;
        let length = u32::try_from(r.uvarint("span length")?)
            .map_err(|_| EncodingError::Corrupt("span length out of range"))?;
        total += u64::from(length);
        if total > MAX_LAYOUT_BUCKETS {
            return Err(EncodingError::Corrupt("too many histogram buckets"));
        }
        spans.push(BucketSpan { offset, length });
    }
    Ok(spans)
}

fn read_layout(r: &mut ByteReader<'_>) -> Result<Layout, EncodingError> {
    let schema = i32::try_from(r.ivarint("schema")?)
        .map_err(|_| EncodingError::Corrupt("schema out of range"))?;
    let zero_threshold_bits = r.u64_le("zero threshold")?;
    let positive_spans = read_spans(r)?;
    let negative_spans = read_spans(r)?;
    let custom = r.uvarint("custom bound count")?;
    if custom > r.remaining() as u64 / 8 {
        return Err(EncodingError::Corrupt(
            "custom bound count exceeds the block",
        ));
    }
    let custom_values_bits = (0..custom)
        .map(|_| r.u64_le("custom bound"))
        .collect::<Result<_, _>>()?;
    Ok(Layout {
        schema,
        zero_threshold_bits,
        positive_spans,
        negative_spans,
        custom_values_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn span(offset: i32, length: u32) -> BucketSpan {
        BucketSpan { offset, length }
    }

    /// A request-latency histogram (schema 3, ~30 populated buckets) scraped every
    /// 15 s with 0–3 ms jitter; each bucket grows by a random number of observations
    /// per scrape, concentrated around the median latency.
    fn latency_series(n: usize, seed: u64) -> Vec<HistogramSample> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let spans = vec![span(-12, 18), span(2, 12)];
        let buckets = 30;
        let mut counts = vec![0.0f64; buckets];
        let mut sum = 0.0;
        (0..n)
            .map(|i| {
                for (b, c) in counts.iter_mut().enumerate() {
                    let centre = 14.0;
                    let weight = (-((b as f64 - centre) / 5.0).powi(2)).exp();
                    let inc = (rng.random_range(0.0..1.0) * 40.0 * weight).round();
                    *c += inc;
                    sum += inc * 0.001 * 1.09f64.powi(b as i32 - 12);
                }
                let count: f64 = counts.iter().sum();
                HistogramSample {
                    timestamp: 1_795_000_000_000 + 15_000 * i as i64 + rng.random_range(0..4),
                    histogram: FloatHistogram {
                        counter_reset_hint: CounterResetHint::NotCounterReset,
                        schema: 3,
                        zero_threshold: 2.938735877055719e-39,
                        zero_count: 0.0,
                        count,
                        sum,
                        positive_spans: spans.clone(),
                        positive_buckets: counts.clone(),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    fn round_trip(samples: &[HistogramSample]) -> usize {
        let mut block = Vec::new();
        encode_histogram_block(samples, &mut block);
        let mut back = vec![];
        decode_histogram_block(&block, &mut back).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in back.iter().zip(samples) {
            assert_eq!(a.timestamp, b.timestamp);
            assert_eq!(bits(&a.histogram), bits(&b.histogram));
        }
        block.len()
    }

    /// Every field, floats compared by bit pattern.
    fn bits(h: &FloatHistogram) -> String {
        let v = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        format!(
            "{:?} {} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
            h.counter_reset_hint,
            h.schema,
            h.zero_threshold.to_bits(),
            h.zero_count.to_bits(),
            h.count.to_bits(),
            h.sum.to_bits(),
            h.positive_spans,
            v(&h.positive_buckets),
            h.negative_spans,
            v(&h.negative_buckets),
            v(&h.custom_values)
        )
    }

    #[test]
    fn realistic_latency_histograms_take_a_few_bytes_per_sample() {
        let samples = latency_series(MAX_HISTOGRAM_BLOCK_SAMPLES, 1);
        let len = round_trip(&samples);
        let per_sample = len as f64 / samples.len() as f64;
        println!("histogram codec: {per_sample:.2} bytes/sample (30 buckets, 2048-sample block)");
        // 30 counters of ~3 random bits each plus a random sum; measured 21.5 bytes/sample.
        assert!(per_sample < 26.0, "{per_sample} bytes/sample");
        let short = latency_series(120, 2);
        let per_sample = round_trip(&short) as f64 / 120.0;
        println!("histogram codec: {per_sample:.2} bytes/sample (120-sample block)");
        assert!(per_sample < 29.0, "{per_sample} bytes/sample");
    }

    #[test]
    fn layout_changes_float_counts_and_odd_values_round_trip() {
        let mut samples = latency_series(50, 3);
        // Layout change in the middle (schema and spans), a negative side, custom bounds.
        for s in &mut samples[20..30] {
            s.histogram.schema = 2;
            s.histogram.negative_spans = vec![span(1, 2)];
            s.histogram.negative_buckets = vec![1.0, 4.0];
        }
        samples[40].histogram = FloatHistogram {
            schema: -53,
            custom_values: vec![0.1, 0.5, 1.0],
            positive_spans: vec![span(0, 4)],
            positive_buckets: vec![1.0, 2.0, 0.0, 7.0],
            count: 10.0,
            sum: tidemark_model::STALE_NAN,
            counter_reset_hint: CounterResetHint::Gauge,
            ..Default::default()
        };
        round_trip(&samples);
        // Fractional and special counts force float mode, still bit-exact.
        samples[5].histogram.positive_buckets[3] = 0.25;
        samples[6].histogram.zero_count = -0.0;
        samples[7].histogram.count = f64::NAN;
        round_trip(&samples);
        round_trip(&samples[..1]);
        let empty = HistogramSample {
            timestamp: -7,
            histogram: FloatHistogram::default(),
        };
        round_trip(&[empty]);
    }

    #[test]
    fn truncations_and_flips_are_errors_not_panics() {
        let samples = latency_series(40, 4);
        let mut block = Vec::new();
        encode_histogram_block(&samples, &mut block);
        for len in 0..block.len() {
            let mut out = Vec::new();
            assert!(decode_histogram_block(&block[..len], &mut out).is_err());
            assert!(out.is_empty());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..2000 {
            let mut b = block.clone();
            let i = rng.random_range(0..b.len());
            b[i] ^= rng.random_range(1..=255u8);
            let _ = decode_histogram_block(&b, &mut Vec::new());
        }
        // The float block decoder refuses a histogram block by its kind.
        assert_eq!(
            super::super::decode_block(&block, &mut Vec::new(), &mut Vec::new()),
            Err(EncodingError::UnsupportedSampleKind(2))
        );
    }

    #[test]
    fn uncompressed_body_is_also_readable() {
        // One empty histogram: too small for zstd to pay off.
        let s = HistogramSample {
            timestamp: 1,
            histogram: FloatHistogram::default(),
        };
        let mut block = Vec::new();
        encode_histogram_block(std::slice::from_ref(&s), &mut block);
        assert_eq!(block[4], NO_COMPRESSION);
        let mut out = Vec::new();
        decode_histogram_block(&block, &mut out).unwrap();
        assert_eq!(out, vec![s]);
    }
}
