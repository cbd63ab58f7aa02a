//! The WAL record for histogram samples (kind 4).
//!
//! Unlike float records it repeats each series' label set: a histogram sample is
//! tens to hundreds of bytes, so labels are a small share of the record, and the
//! record stays independent of the per-segment definition tracking of float records.
//!
//! ```text
//! u8 kind = 4, u32 account_id, u32 project_id, uvarint series count
//! per series: labels, uvarint sample count, per sample:
//!   i64 timestamp, u8 counter reset hint, u32 schema (i32 bits),
//!   u64 zero threshold bits, u64 zero count bits, u64 count bits, u64 sum bits,
//!   positive spans, positive buckets, negative spans, negative buckets, custom bounds
//! spans = uvarint count, per span u32 offset (i32 bits) + u32 length
//! buckets / bounds = uvarint count, u64 bits each
//! ```

use tidemark_model::{
    BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, Labels, Tenant,
};

use crate::wire::{self, Reader, WireError};

pub(crate) const KIND_HISTOGRAMS: u8 = 4;

fn error(reason: &'static str) -> WireError {
    WireError { offset: 0, reason }
}

/// Encodes a histogram samples record into `out` (cleared first).
pub(crate) fn encode(out: &mut Vec<u8>, tenant: Tenant, series: &[(&Labels, &[HistogramSample])]) {
    out.clear();
    out.push(KIND_HISTOGRAMS);
    wire::put_tenant(out, tenant);
    wire::put_uvarint(out, series.len() as u64);
    for &(labels, samples) in series {
        wire::put_labels(out, labels);
        wire::put_uvarint(out, samples.len() as u64);
        for s in samples {
            wire::put_i64(out, s.timestamp);
            put_histogram(out, &s.histogram);
        }
    }
}

fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    wire::put_uvarint(out, values.len() as u64);
    for v in values {
        wire::put_u64(out, v.to_bits());
    }
}

fn put_spans(out: &mut Vec<u8>, spans: &[BucketSpan]) {
    wire::put_uvarint(out, spans.len() as u64);
    for s in spans {
        wire::put_u32(out, s.offset as u32);
        wire::put_u32(out, s.length);
    }
}

fn put_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.push(h.counter_reset_hint as u8);
    wire::put_u32(out, h.schema as u32);
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        wire::put_u64(out, v.to_bits());
    }
    put_spans(out, &h.positive_spans);
    put_floats(out, &h.positive_buckets);
    put_spans(out, &h.negative_spans);
    put_floats(out, &h.negative_buckets);
    put_floats(out, &h.custom_values);
}

/// The series of a decoded histogram record: label set and samples.
pub(crate) type HistogramRecordSeries = Vec<(Labels, Vec<HistogramSample>)>;

/// Decodes the record after its kind byte.
pub(crate) fn decode_after_kind(
    r: &mut Reader<'_>,
) -> Result<(Tenant, HistogramRecordSeries), WireError> {
    let tenant = r.tenant()?;
    let n = r.count(2)?;
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = r.labels()?;
        let count = r.count(45)?;
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let timestamp = r.i64()?;
            samples.push(HistogramSample {
                timestamp,
                histogram: read_histogram(r)?,
            });
        }
        series.push((labels, samples));
    }
    Ok((tenant, series))
}

fn read_floats(r: &mut Reader<'_>) -> Result<Vec<f64>, WireError> {
    let n = r.count(8)?;
    (0..n).map(|_| r.u64().map(f64::from_bits)).collect()
}

fn read_spans(r: &mut Reader<'_>) -> Result<Vec<BucketSpan>, WireError> {
    let n = r.count(8)?;
    (0..n)
        .map(|_| {
            Ok(BucketSpan {
                offset: r.u32()? as i32,
                length: r.u32()?,
            })
        })
        .collect()
}

fn read_histogram(r: &mut Reader<'_>) -> Result<FloatHistogram, WireError> {
    let counter_reset_hint = match r.u8()? {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => return Err(error("unknown counter reset hint")),
    };
    let schema = r.u32()? as i32;
    let mut f = || r.u64().map(f64::from_bits);
    let (zero_threshold, zero_count, count, sum) = (f()?, f()?, f()?, f()?);
    let positive_spans = read_spans(r)?;
    let positive_buckets = read_floats(r)?;
    let negative_spans = read_spans(r)?;
    let negative_buckets = read_floats(r)?;
    let custom_values = read_floats(r)?;
    let h = FloatHistogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values,
    };
    super::validate(&h).map_err(|_| error("histogram spans do not match its buckets"))?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncations_fail() {
        let labels = Labels::from_pairs([("__name__", "rpc_seconds")]);
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::CounterReset,
            schema: -2,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 9.0,
            sum: tidemark_model::STALE_NAN,
            positive_spans: vec![BucketSpan {
                offset: -3,
                length: 2,
            }],
            positive_buckets: vec![3.0, 5.0],
            ..Default::default()
        };
        let samples = vec![HistogramSample {
            timestamp: -9,
            histogram: h,
        }];
        let mut raw = Vec::new();
        let tenant = Tenant::new(3, 4);
        encode(&mut raw, tenant, &[(&labels, &samples)]);
        let mut r = Reader::new(&raw[1..]);
        let (t, series) = decode_after_kind(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(t, tenant);
        assert_eq!(series[0].0, labels);
        assert_eq!(
            series[0].1[0].histogram.sum.to_bits(),
            samples[0].histogram.sum.to_bits()
        );
        assert_eq!(series[0].1[0].histogram.positive_buckets, vec![3.0, 5.0]);
        for len in 1..raw.len() {
            let mut r = Reader::new(&raw[1..len]);
            assert!(decode_after_kind(&mut r).is_err(), "prefix of {len} bytes");
        }
    }
}
