//! Counter semantics of native histograms: reset detection and the
//! `rate`/`increase`/`delta`/`irate`/`idelta` family over histogram samples.

use tidemark_model::{CounterResetHint, FloatHistogram};

use super::arith::{self, Incompatible, Layout};
use super::buckets::{to_map, uses_custom_buckets};
use crate::value::HPoint;

/// What the histogram rate functions report next to (or instead of) a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// Exponential and custom buckets in one window: no result.
    MixedExponentialCustom,
    /// A counter function read a gauge histogram.
    NotCounter,
    /// A gauge function read a counter histogram.
    NotGauge,
    /// Custom bucket bounds differed and were reduced to the shared ones.
    CustomBucketsReconciled,
}

/// Whether a counter reset happened between `prev` and `cur` (Prometheus'
/// `DetectReset`): the producer's hint decides if it is definite, otherwise any
/// sign that `cur` cannot be a continuation of `prev` counts as a reset.
pub(crate) fn detect_reset(cur: &FloatHistogram, prev: &FloatHistogram) -> bool {
    match cur.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset => return false,
        CounterResetHint::Unknown | CounterResetHint::Gauge => {}
    }
    if cur.count < prev.count {
        return true;
    }
    if uses_custom_buckets(cur) != uses_custom_buckets(prev) {
        return true;
    }
    if uses_custom_buckets(cur) {
        if cur.custom_values != prev.custom_values {
            // Compare on the bounds both share (Prometheus reconciles them).
            return custom_buckets_dropped(prev, cur);
        }
    } else if cur.schema > prev.schema || cur.zero_threshold < prev.zero_threshold {
        return true;
    }
    let mut p = Layout::of(prev);
    let c = Layout::of(cur);
    if !uses_custom_buckets(cur) {
        p.reduce_to(cur.schema);
        let (prev_zero, needed) = p.zero_count_for(cur.zero_threshold);
        if needed != cur.zero_threshold || cur.zero_count < prev_zero {
            return true;
        }
        p.widen_zero_bucket(cur.zero_threshold);
    }
    for (cm, pm) in [(&c.positive, &p.positive), (&c.negative, &p.negative)] {
        for (i, &pc) in pm {
            if cm.get(i).copied().unwrap_or(0.0) < pc {
                return true;
            }
        }
    }
    false
}

/// Whether some bucket of `prev` went down in `cur`, both mapped onto the
/// custom bounds they share.
fn custom_buckets_dropped(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    let common: Vec<f64> = cur
        .custom_values
        .iter()
        .copied()
        .filter(|b| prev.custom_values.contains(b))
        .collect();
    let remap = |h: &FloatHistogram| {
        let mut m = std::collections::BTreeMap::new();
        for (i, c) in to_map(&h.positive_spans, &h.positive_buckets) {
            *m.entry(arith::rebucket_custom(&h.custom_values, &common, i))
                .or_insert(0.0) += c;
        }
        m
    };
    let (p, c) = (remap(prev), remap(cur));
    p.iter()
        .any(|(i, pc)| c.get(i).copied().unwrap_or(0.0) < *pc)
}

/// Which function of the family is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Delta,
    Increase,
    Rate,
}

/// Prometheus' extrapolated `rate`/`increase`/`delta` over the histogram points
/// of a left-open window. `None` for fewer than two points or incompatible
/// layouts (then a note says why).
///
/// `start_timestamps` is empty or parallel to `points` (0 = unknown) and is used
/// as for floats (`rate::extrapolated_rate`): a start timestamp moving past the
/// previous sample is a reset, and a first start timestamp inside the window is
/// where the counter was zero (no extrapolation to the left).
pub(crate) fn extrapolated(
    points: &[HPoint],
    start_timestamps: &[i64],
    range_start_ms: i64,
    range_end_ms: i64,
    kind: Kind,
    notes: &mut Vec<Note>,
) -> Option<FloatHistogram> {
    let first = points.first()?;
    let is_counter = kind != Kind::Delta;
    let first_st = start_timestamps.first().copied().unwrap_or(0);
    let zero_at_start =
        is_counter && first_st != 0 && first_st > range_start_ms && first_st < first.t;
    if points.len() < 2 {
        if !zero_at_start {
            return None;
        }
        let mut h = (*first.h).clone();
        if kind == Kind::Rate {
            h = arith::divide(&h, (range_end_ms - range_start_ms) as f64 / 1000.0);
        }
        h.counter_reset_hint = CounterResetHint::Gauge;
        return Some(h);
    }
    let mut h = raw_increase(points, start_timestamps, is_counter, notes)?;
    let last = &points[points.len() - 1];
    let mut sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_gap = sampled / (points.len() - 1) as f64;
    let threshold = avg_gap * 1.1;
    let mut to_start = (first.t - range_start_ms) as f64 / 1000.0;
    let mut to_end = (range_end_ms - last.t) as f64 / 1000.0;
    if zero_at_start {
        h = arith::add(&h, &first.h).ok()?.h;
        sampled = (last.t - first_st) as f64 / 1000.0;
        to_start = 0.0;
    } else {
        if to_start >= threshold {
            to_start = avg_gap / 2.0;
        }
        if is_counter && h.count > 0.0 && first.h.count >= 0.0 {
            // Do not extrapolate below the point where the count would be zero.
            let to_zero = sampled * (first.h.count / h.count);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    if to_end >= threshold {
        to_end = avg_gap / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if kind == Kind::Rate {
        factor /= (range_end_ms - range_start_ms) as f64 / 1000.0;
    }
    h = arith::scale(&h, factor);
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h)
}

/// `last - first`, plus for counters the value before every reset.
///
/// A switch between exponential and custom buckets counts as a reset: then
/// only the samples of the last sample's kind contribute. A switch that is
/// undone within the window (first and last of one kind, some other in
/// between) gives no result.
fn raw_increase(
    points: &[HPoint],
    start_timestamps: &[i64],
    is_counter: bool,
    notes: &mut Vec<Note>,
) -> Option<FloatHistogram> {
    let (first, last) = (&points[0].h, &points[points.len() - 1].h);
    let custom = uses_custom_buckets(last);
    if uses_custom_buckets(first) == custom
        && points.iter().any(|p| uses_custom_buckets(&p.h) != custom)
    {
        notes.push(Note::MixedExponentialCustom);
        return None;
    }
    if is_counter {
        if points
            .iter()
            .any(|p| p.h.counter_reset_hint == CounterResetHint::Gauge)
        {
            notes.push(Note::NotCounter);
        }
    } else if first.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
    {
        notes.push(Note::NotGauge);
    }
    let mut reconciled = false;
    let mut apply = |r: Result<arith::Combined, Incompatible>| -> Option<FloatHistogram> {
        let c = r.ok()?;
        reconciled |= c.custom_buckets_reconciled;
        Some(c.h)
    };
    let mut h = if uses_custom_buckets(first) == custom {
        apply(arith::sub(last, first))?
    } else {
        (**last).clone()
    };
    if is_counter {
        for (i, w) in points.windows(2).enumerate() {
            let reset = detect_reset(&w[1].h, &w[0].h) || st_reset(start_timestamps, points, i + 1);
            if uses_custom_buckets(&w[0].h) == custom && reset {
                h = apply(arith::add(&h, &w[0].h))?;
            }
        }
    }
    if reconciled {
        notes.push(Note::CustomBucketsReconciled);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h)
}

/// `rate`/`increase`/`delta` over an `anchored` or `smoothed` window: the
/// difference between the histograms at the window boundaries, without
/// extrapolation (the float version is `rate::extended_rate`).
///
/// `points` extend past the window as the selector provides them: the last
/// sample at or before the start, and for `smoothed` the first after the end;
/// `smoothed` interpolates the boundary histograms.
pub(crate) fn extended(
    points: &[HPoint],
    range_start_ms: i64,
    range_end_ms: i64,
    smoothed: bool,
    kind: Kind,
    notes: &mut Vec<Note>,
) -> Option<FloatHistogram> {
    if points.is_empty() {
        return None;
    }
    let is_counter = kind != Kind::Delta;
    let custom = uses_custom_buckets(&points[0].h);
    if points.iter().any(|p| uses_custom_buckets(&p.h) != custom) {
        notes.push(Note::MixedExponentialCustom);
        return None;
    }
    let gauge = |p: &HPoint| p.h.counter_reset_hint == CounterResetHint::Gauge;
    if is_counter && points.iter().any(gauge) {
        notes.push(Note::NotCounter);
    }
    if !is_counter && !points.iter().all(gauge) {
        notes.push(Note::NotGauge);
    }
    let mut last_idx = points.len() - 1;
    let mut first_idx = points[..last_idx]
        .partition_point(|p| p.t <= range_start_ms)
        .saturating_sub(1);
    if smoothed {
        last_idx = points[..last_idx].partition_point(|p| p.t < range_end_ms);
    }
    if points[last_idx].t <= range_start_ms {
        return None;
    }
    let left = if smoothed && points[first_idx].t < range_start_ms {
        interpolate(
            &points[first_idx],
            &points[first_idx + 1],
            range_start_ms,
            is_counter,
        )?
    } else {
        (*points[first_idx].h).clone()
    };
    let right = if smoothed && last_idx > 0 && points[last_idx].t > range_end_ms {
        interpolate(
            &points[last_idx - 1],
            &points[last_idx],
            range_end_ms,
            is_counter,
        )?
    } else {
        (*points[last_idx].h).clone()
    };
    let mut h = arith::sub(&right, &left).ok()?.h;
    if is_counter {
        // Boundary resets are handled by the interpolation; only the samples
        // strictly inside the window take part in the reset correction.
        if points[first_idx].t <= range_start_ms {
            first_idx += 1;
        }
        let end = if points[last_idx].t >= range_end_ms {
            last_idx
        } else {
            last_idx + 1
        };
        let inner: Vec<&FloatHistogram> = points
            .get(first_idx..end.max(first_idx))
            .unwrap_or(&[])
            .iter()
            .map(|p| &*p.h)
            .collect();
        // Between real samples the producer's hints count; against the boundary
        // values (interpolated, or copies of a sample already in `inner`) only
        // the values do, as for floats.
        let mut prev = &left;
        let chain = inner.iter().copied().chain(std::iter::once(&right));
        for (i, cur) in chain.enumerate() {
            let boundary = i == 0 || i == inner.len();
            let reset = if boundary {
                reset_by_value(cur, prev)
            } else {
                detect_reset(cur, prev)
            };
            if reset {
                h = arith::add(&h, prev).ok()?.h;
            }
            prev = cur;
        }
    }
    if kind == Kind::Rate {
        h = arith::divide(&h, (range_end_ms - range_start_ms) as f64 / 1000.0);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h)
}

/// [`detect_reset`] ignoring the hint of `cur`.
fn reset_by_value(cur: &FloatHistogram, prev: &FloatHistogram) -> bool {
    if cur.counter_reset_hint == CounterResetHint::Unknown {
        return detect_reset(cur, prev);
    }
    let unhinted = FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        ..cur.clone()
    };
    detect_reset(&unhinted, prev)
}

/// The histogram at `t` between `a` and `b`, interpolated bucket by bucket; for
/// counters a reset between them means `b` grew from nothing. `None` when one
/// has exponential and the other custom buckets.
pub(crate) fn interpolate(
    a: &HPoint,
    b: &HPoint,
    t: i64,
    is_counter: bool,
) -> Option<FloatHistogram> {
    if uses_custom_buckets(&a.h) != uses_custom_buckets(&b.h) {
        return None;
    }
    let frac = (t - a.t) as f64 / (b.t - a.t) as f64;
    let mut h = if is_counter && detect_reset(&b.h, &a.h) {
        arith::scale(&b.h, frac)
    } else {
        let diff = arith::sub(&b.h, &a.h).ok()?.h;
        arith::add(&a.h, &arith::scale(&diff, frac)).ok()?.h
    };
    h.counter_reset_hint = CounterResetHint::Unknown;
    Some(h)
}

/// Whether the start timestamps show a reset between `points[i - 1]` and `points[i]`.
pub(crate) fn st_reset(start_timestamps: &[i64], points: &[HPoint], i: usize) -> bool {
    i > 0
        && i < start_timestamps.len()
        && crate::functions::rate::is_start_timestamp_reset(
            start_timestamps[i - 1],
            points[i - 1].t,
            start_timestamps[i],
            points[i].t,
        )
}

/// `irate` (`per_second`) or `idelta` over the last two histogram samples.
pub(crate) fn instant(
    prev: &HPoint,
    last: &HPoint,
    st_reset: bool,
    per_second: bool,
    notes: &mut Vec<Note>,
) -> Option<FloatHistogram> {
    let gauge = |p: &HPoint| p.h.counter_reset_hint == CounterResetHint::Gauge;
    if per_second && (gauge(prev) || gauge(last)) {
        notes.push(Note::NotCounter);
    }
    let both_gauges = gauge(prev) && gauge(last);
    if !per_second && !both_gauges {
        notes.push(Note::NotGauge);
    }
    let mut h = if per_second && (st_reset || detect_reset(&last.h, &prev.h)) {
        (*last.h).clone()
    } else {
        match arith::sub(&last.h, &prev.h) {
            Ok(c) => {
                if c.custom_buckets_reconciled {
                    notes.push(Note::CustomBucketsReconciled);
                }
                c.h
            }
            Err(Incompatible::MixedSchemas) => {
                notes.push(Note::MixedExponentialCustom);
                return None;
            }
        }
    };
    if per_second {
        h = arith::divide(&h, (last.t - prev.t) as f64 / 1000.0);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tidemark_model::BucketSpan;

    fn point(t: i64, buckets: &[f64]) -> HPoint {
        let count = buckets.iter().sum();
        HPoint {
            t,
            h: Arc::new(FloatHistogram {
                count,
                sum: count,
                positive_spans: vec![BucketSpan {
                    offset: 0,
                    length: buckets.len() as u32,
                }],
                positive_buckets: buckets.to_vec(),
                ..FloatHistogram::default()
            }),
        }
    }

    #[test]
    fn reset_detection_reads_hints_then_buckets() {
        let a = point(0, &[2.0, 2.0]).h;
        let b = point(0, &[3.0, 1.0]).h; // same count, one bucket dropped
        assert!(detect_reset(&b, &a));
        assert!(!detect_reset(&a, &a));
        let mut hinted = (*b).clone();
        hinted.counter_reset_hint = CounterResetHint::NotCounterReset;
        assert!(!detect_reset(&hinted, &a));
        let mut coarser = (*a).clone();
        coarser.schema = 1;
        assert!(detect_reset(&coarser, &a), "a higher schema is a reset");
    }

    #[test]
    fn increase_adds_back_values_before_a_reset_and_extrapolates() {
        // 0s..60s, 4 samples 20s apart over a 60s window ending at the last one.
        let pts = vec![
            point(0, &[1.0]),
            point(20_000, &[2.0]),
            point(40_000, &[1.0]),
            point(60_000, &[2.0]),
        ];
        let mut notes = Vec::new();
        let h = extrapolated(&pts, &[], -1, 60_000, Kind::Increase, &mut notes).unwrap();
        // raw: (2 - 1) + 2 = 3 over 60s; start gap 0.001s.
        assert!((h.count - 3.0 * 60.001 / 60.0).abs() < 1e-9, "{}", h.count);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        assert!(notes.is_empty());
        extrapolated(&pts, &[], -1, 60_000, Kind::Delta, &mut notes);
        assert_eq!(notes, vec![Note::NotGauge]);
    }

    #[test]
    fn irate_divides_by_the_sample_gap() {
        let mut notes = Vec::new();
        let h = instant(
            &point(0, &[1.0]),
            &point(10_000, &[3.0]),
            false,
            true,
            &mut notes,
        )
        .unwrap();
        assert_eq!(h.count, 0.2);
        assert!(notes.is_empty());
    }
}
