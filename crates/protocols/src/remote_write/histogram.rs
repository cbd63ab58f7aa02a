//! Native histogram samples from remote write 2.0, converted to [`FloatHistogram`].

use tidemark_model::{BucketSpan, CounterResetHint, FloatHistogram};

use super::proto_v2 as pb;
use crate::DecodeError;

/// Schema of native histograms with custom (classic-style) bucket bounds.
const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Converts one histogram sample, checking that the spans describe exactly as many
/// buckets as were sent and that integer bucket counts never go negative.
pub(crate) fn to_float_histogram(h: &pb::Histogram) -> Result<FloatHistogram, DecodeError> {
    if !((-4..=8).contains(&h.schema) || h.schema == CUSTOM_BUCKETS_SCHEMA) {
        return Err(invalid(format!("unsupported schema {}", h.schema)));
    }
    if h.schema != CUSTOM_BUCKETS_SCHEMA && !h.custom_values.is_empty() {
        return Err(invalid(
            "custom_values given for an exponential schema".into(),
        ));
    }
    let is_float = matches!(h.count, Some(pb::Count::CountFloat(_)));
    let (count, zero_count, positive_buckets, negative_buckets) = if is_float {
        if !h.positive_deltas.is_empty() || !h.negative_deltas.is_empty() {
            return Err(invalid(
                "float histogram carries integer bucket deltas".into(),
            ));
        }
        let zero_count = match h.zero_count {
            Some(pb::ZeroCount::ZeroCountFloat(z)) => z,
            Some(pb::ZeroCount::ZeroCountInt(z)) => z as f64,
            None => 0.0,
        };
        let count = match h.count {
            Some(pb::Count::CountFloat(c)) => c,
            _ => 0.0,
        };
        (
            count,
            zero_count,
            h.positive_counts.clone(),
            h.negative_counts.clone(),
        )
    } else {
        if !h.positive_counts.is_empty() || !h.negative_counts.is_empty() {
            return Err(invalid(
                "integer histogram carries float bucket counts".into(),
            ));
        }
        let zero_count = match h.zero_count {
            Some(pb::ZeroCount::ZeroCountInt(z)) => z as f64,
            Some(pb::ZeroCount::ZeroCountFloat(_)) => {
                return Err(invalid(
                    "integer histogram carries a float zero count".into(),
                ))
            }
            None => 0.0,
        };
        let count = match h.count {
            Some(pb::Count::CountInt(c)) => c as f64,
            _ => 0.0,
        };
        (
            count,
            zero_count,
            absolute_counts(&h.positive_deltas)?,
            absolute_counts(&h.negative_deltas)?,
        )
    };
    let positive_spans = spans(&h.positive_spans, positive_buckets.len(), "positive")?;
    let negative_spans = spans(&h.negative_spans, negative_buckets.len(), "negative")?;
    Ok(FloatHistogram {
        counter_reset_hint: reset_hint(h.reset_hint),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count,
        count,
        sum: h.sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values: h.custom_values.clone(),
    })
}

/// The wire's `ResetHint` enum (UNKNOWN=0, YES=1, NO=2, GAUGE=3); unknown values
/// degrade to "unknown" so that a newer sender is not rejected.
fn reset_hint(wire: i32) -> CounterResetHint {
    match wire {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

/// Integer histograms send each bucket as a delta to the previous one.
fn absolute_counts(deltas: &[i64]) -> Result<Vec<f64>, DecodeError> {
    let mut current: i64 = 0;
    let mut out = Vec::with_capacity(deltas.len());
    for &d in deltas {
        current = current
            .checked_add(d)
            .ok_or_else(|| invalid("bucket count overflows".into()))?;
        if current < 0 {
            return Err(invalid("negative bucket count".into()));
        }
        out.push(current as f64);
    }
    Ok(out)
}

fn spans(
    spans: &[pb::BucketSpan],
    buckets: usize,
    side: &str,
) -> Result<Vec<BucketSpan>, DecodeError> {
    let described: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if described != buckets as u64 {
        return Err(invalid(format!(
            "{side} spans describe {described} buckets but {buckets} were sent"
        )));
    }
    Ok(spans
        .iter()
        .map(|s| BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect())
}

/// The wire form of a histogram sample: an integer histogram (bucket deltas) when
/// every count is a non-negative integer below 2^53, as Prometheus sends them;
/// otherwise a float histogram (absolute counts).
pub(crate) fn to_wire_histogram(timestamp: i64, h: &FloatHistogram) -> pb::Histogram {
    let is_int = |v: f64| (0.0..9_007_199_254_740_992.0).contains(&v) && v.fract() == 0.0;
    let integer = is_int(h.count)
        && is_int(h.zero_count)
        && h.positive_buckets
            .iter()
            .chain(&h.negative_buckets)
            .all(|&v| is_int(v));
    let spans = |s: &[BucketSpan]| -> Vec<pb::BucketSpan> {
        s.iter()
            .map(|s| pb::BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    let deltas = |buckets: &[f64]| -> Vec<i64> {
        let mut prev = 0i64;
        buckets
            .iter()
            .map(|&v| {
                let d = v as i64 - prev;
                prev = v as i64;
                d
            })
            .collect()
    };
    let mut out = pb::Histogram {
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        negative_spans: spans(&h.negative_spans),
        positive_spans: spans(&h.positive_spans),
        reset_hint: h.counter_reset_hint as i32,
        timestamp,
        custom_values: h.custom_values.clone(),
        ..Default::default()
    };
    if integer {
        out.count = Some(pb::Count::CountInt(h.count as u64));
        out.zero_count = Some(pb::ZeroCount::ZeroCountInt(h.zero_count as u64));
        out.positive_deltas = deltas(&h.positive_buckets);
        out.negative_deltas = deltas(&h.negative_buckets);
    } else {
        out.count = Some(pb::Count::CountFloat(h.count));
        out.zero_count = Some(pb::ZeroCount::ZeroCountFloat(h.zero_count));
        out.positive_counts = h.positive_buckets.clone();
        out.negative_counts = h.negative_buckets.clone();
    }
    out
}

fn invalid(msg: String) -> DecodeError {
    DecodeError::InvalidRequest(format!("native histogram: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_histogram() -> pb::Histogram {
        pb::Histogram {
            count: Some(pb::Count::CountInt(6)),
            sum: 12.5,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: Some(pb::ZeroCount::ZeroCountInt(1)),
            positive_spans: vec![
                pb::BucketSpan {
                    offset: 0,
                    length: 2,
                },
                pb::BucketSpan {
                    offset: 1,
                    length: 1,
                },
            ],
            positive_deltas: vec![2, -1, 1],
            timestamp: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn wire_form_round_trips_integer_and_float_histograms() {
        let int = to_float_histogram(&int_histogram()).unwrap();
        let wire = to_wire_histogram(1000, &int);
        assert_eq!(wire.positive_deltas, vec![2, -1, 1]);
        assert_eq!(to_float_histogram(&wire).unwrap(), int);
        let mut float = int.clone();
        float.positive_buckets[1] = 0.5;
        float.counter_reset_hint = CounterResetHint::Gauge;
        let wire = to_wire_histogram(1000, &float);
        assert!(matches!(wire.count, Some(pb::Count::CountFloat(_))));
        assert_eq!(to_float_histogram(&wire).unwrap(), float);
    }

    #[test]
    fn integer_deltas_become_absolute_counts() {
        let h = to_float_histogram(&int_histogram()).unwrap();
        assert_eq!(h.positive_buckets, vec![2.0, 1.0, 2.0]);
        assert_eq!((h.count, h.zero_count, h.sum), (6.0, 1.0, 12.5));
        assert_eq!(h.positive_spans.len(), 2);
    }

    #[test]
    fn span_bucket_mismatch_and_negative_counts_are_rejected() {
        let mut h = int_histogram();
        h.positive_deltas.pop();
        assert_eq!(
            to_float_histogram(&h).unwrap_err().reason(),
            "invalid_request"
        );
        let mut h = int_histogram();
        h.positive_deltas = vec![1, -2, 0];
        assert!(to_float_histogram(&h).is_err());
        let mut h = int_histogram();
        h.schema = 9;
        assert!(to_float_histogram(&h).is_err());
        let mut h = int_histogram();
        h.positive_spans = vec![
            pb::BucketSpan {
                offset: 0,
                length: u32::MAX
            };
            3
        ];
        assert!(to_float_histogram(&h).is_err());
    }
}
