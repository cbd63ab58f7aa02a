//! `rate`, `increase`, `delta`, `irate` and `idelta` over float samples.
//!
//! Plain range selectors use Prometheus' extrapolation (see [`extrapolated_rate`]);
//! `anchored` and `smoothed` selectors use the boundary-value approach of
//! [`extended_rate`]. Histogram samples are the evaluator's business.

use super::{RangeMode, RangeWindow};
use crate::value::FPoint;

/// Which of the three extrapolating functions is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateKind {
    /// `delta`: a gauge difference, no counter-reset handling, not per second.
    Delta,
    /// `increase`: counter difference with reset handling, not per second.
    Increase,
    /// `rate`: `increase` divided by the range in seconds.
    Rate,
}

impl RateKind {
    fn is_counter(self) -> bool {
        self != RateKind::Delta
    }
    fn is_rate(self) -> bool {
        self == RateKind::Rate
    }
}

/// Dispatches on the selector mode: anchored/smoothed windows use
/// [`extended_rate`], plain windows [`extrapolated_rate`].
pub(crate) fn rate_like(w: &RangeWindow<'_>, kind: RateKind) -> Option<f64> {
    match w.mode {
        RangeMode::Plain => extrapolated_rate(
            w.points,
            w.start_timestamps,
            w.range_start_ms,
            w.range_end_ms,
            kind,
        ),
        RangeMode::Anchored | RangeMode::Smoothed => extended_rate(
            w.points,
            w.range_start_ms,
            w.range_end_ms,
            w.mode == RangeMode::Smoothed,
            kind,
        ),
    }
}

/// Prometheus' extrapolated rate over the points of a left-open window
/// `(range_start_ms, range_end_ms]`.
///
/// Needs at least two points, otherwise there is no result. The raw difference
/// (plus, for counters, the value before every drop) is extrapolated towards each
/// window boundary: all the way if the gap to the boundary is below 1.1× the
/// average sample interval, otherwise by half an average interval only (the series
/// probably starts or ends inside the window). For counters the extrapolation
/// toward the start never goes below the point where the counter would be zero.
///
/// `start_timestamps` is either empty or parallel to `points` (0 = unknown). For
/// counters, a start timestamp that moves past the previous sample marks a reset
/// even without a drop, and when the first point's start timestamp lies strictly
/// inside the window, the counter is taken to have been 0 at that time: the first
/// value counts as increase and nothing is extrapolated to the left (a single
/// such point then suffices, and is not extrapolated at all).
pub(crate) fn extrapolated_rate(
    points: &[FPoint],
    start_timestamps: &[i64],
    range_start_ms: i64,
    range_end_ms: i64,
    kind: RateKind,
) -> Option<f64> {
    let first = *points.first()?;
    let last = points[points.len() - 1];
    let first_st = start_timestamps.first().copied().unwrap_or(0);
    let zero_at_start =
        kind.is_counter() && first_st != 0 && first_st > range_start_ms && first_st < first.t;
    if points.len() < 2 {
        if !zero_at_start {
            return None;
        }
        let per = if kind.is_rate() {
            range_seconds(range_start_ms, range_end_ms)
        } else {
            1.0
        };
        return Some(first.f / per);
    }
    let mut result = last.f - first.f;
    if kind.is_counter() {
        for (i, pair) in points.windows(2).enumerate() {
            let (prev, cur) = (pair[0], pair[1]);
            let st_reset = i + 1 < start_timestamps.len()
                && is_start_timestamp_reset(
                    start_timestamps[i],
                    prev.t,
                    start_timestamps[i + 1],
                    cur.t,
                );
            if cur.f < prev.f || st_reset {
                result += prev.f;
            }
        }
    }
    Some(extrapolate(
        result,
        points,
        first_st,
        zero_at_start,
        range_start_ms,
        range_end_ms,
        kind,
    ))
}

/// [`extrapolated_rate`] of a window of at least two points without start
/// timestamps, whose counter drops are already known: `drop_values` are the values
/// before each drop inside the window, in order (ignored for `delta`). A caller
/// sliding one series' window across steps finds the drops once instead of
/// rescanning every window; the arithmetic is the same, so the result is too.
pub(crate) fn extrapolated_rate_with_drops(
    points: &[FPoint],
    drop_values: impl Iterator<Item = f64>,
    range_start_ms: i64,
    range_end_ms: i64,
    kind: RateKind,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let mut result = points[points.len() - 1].f - points[0].f;
    if kind.is_counter() {
        for v in drop_values {
            result += v;
        }
    }
    Some(extrapolate(
        result,
        points,
        0,
        false,
        range_start_ms,
        range_end_ms,
        kind,
    ))
}

/// Indices `i` where a counter drops from `points[i]` to `points[i + 1]`: the
/// resets [`extrapolated_rate`] corrects for when start timestamps are unknown.
pub(crate) fn counter_drops(points: &[FPoint]) -> Vec<usize> {
    points
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair[1].f < pair[0].f)
        .map(|(i, _)| i)
        .collect()
}

/// Extrapolates the raw increase `result` of `points` (two or more) towards the
/// window boundaries, as [`extrapolated_rate`] describes.
fn extrapolate(
    mut result: f64,
    points: &[FPoint],
    first_st: i64,
    zero_at_start: bool,
    range_start_ms: i64,
    range_end_ms: i64,
    kind: RateKind,
) -> f64 {
    let first = points[0];
    let last = points[points.len() - 1];
    let mut duration_to_start = (first.t - range_start_ms) as f64 / 1000.0;
    let mut duration_to_end = (range_end_ms - last.t) as f64 / 1000.0;
    let mut sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (points.len() - 1) as f64;
    let threshold = average_interval * 1.1;

    if zero_at_start {
        result += first.f;
        sampled_interval = (last.t - first_st) as f64 / 1000.0;
        duration_to_start = 0.0;
    } else {
        if duration_to_start >= threshold {
            duration_to_start = average_interval / 2.0;
        }
        if kind.is_counter() && result > 0.0 && first.f >= 0.0 {
            // A counter cannot have been negative: stop extrapolating at its zero point.
            let duration_to_zero = sampled_interval * (first.f / result);
            if duration_to_zero < duration_to_start {
                duration_to_start = duration_to_zero;
            }
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_interval / 2.0;
    }

    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if kind.is_rate() {
        factor /= range_seconds(range_start_ms, range_end_ms);
    }
    result * factor
}

/// Rate for `anchored` and `smoothed` selectors: the difference between the values
/// at the window boundaries, without extrapolation.
///
/// `points` may extend past the window: anchored windows include the last sample at
/// or before `range_start_ms`; smoothed windows additionally include the first
/// sample after `range_end_ms`, and boundary values are linearly interpolated
/// (for counters, across a reset the earlier point counts as 0).
pub(crate) fn extended_rate(
    points: &[FPoint],
    range_start_ms: i64,
    range_end_ms: i64,
    smoothed: bool,
    kind: RateKind,
) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let is_counter = kind.is_counter();
    let mut last_idx = points.len() - 1;
    // Index of the last point at or before the start (0 if there is none).
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
            points[first_idx],
            points[first_idx + 1],
            range_start_ms,
            is_counter,
        )
    } else {
        points[first_idx].f
    };
    let right = if smoothed && last_idx > 0 && points[last_idx].t > range_end_ms {
        interpolate(
            points[last_idx - 1],
            points[last_idx],
            range_end_ms,
            is_counter,
        )
    } else {
        points[last_idx].f
    };

    let mut result = right - left;
    if is_counter {
        // Boundary resets are already handled by the interpolation; only points
        // strictly inside the window take part in the reset correction.
        if points[first_idx].t <= range_start_ms {
            first_idx += 1;
        }
        let end = if points[last_idx].t >= range_end_ms {
            last_idx
        } else {
            last_idx + 1
        };
        let inner = if first_idx < end {
            &points[first_idx..end]
        } else {
            &[][..]
        };
        result += counter_reset_correction(left, right, inner);
    }
    if kind.is_rate() {
        result /= range_seconds(range_start_ms, range_end_ms);
    }
    Some(result)
}

/// `irate` (`is_rate`) and `idelta`: the last two points only.
///
/// `irate` treats a drop (or a start-timestamp reset) as a counter reset and then
/// uses the last value as the increase; both are per second for `irate`. No result
/// with fewer than two points or two points at the same timestamp.
pub(crate) fn instant_value(
    points: &[FPoint],
    start_timestamps: &[i64],
    is_rate: bool,
) -> Option<f64> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let (prev, cur) = (points[n - 2], points[n - 1]);
    let interval_ms = cur.t - prev.t;
    if interval_ms == 0 {
        return None;
    }
    let st_reset = start_timestamps.len() == n
        && is_start_timestamp_reset(
            start_timestamps[n - 2],
            prev.t,
            start_timestamps[n - 1],
            cur.t,
        );
    let mut v = cur.f;
    if !is_rate || !(cur.f < prev.f || st_reset) {
        v = cur.f - prev.f;
    }
    if is_rate {
        v /= interval_ms as f64 / 1000.0;
    }
    Some(v)
}

/// Whether a sample's start timestamp (OTel-style "created" time) shows a counter
/// reset since the previous sample. A start timestamp is usable only when known
/// (non-zero) and before its own sample. One after the previous sample is a reset;
/// one equal to the previous sample's time is a reset only if the previous start
/// timestamp was usable too (a delta-style series), not for a cumulative series
/// whose start is unknown.
pub(crate) fn is_start_timestamp_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    if !usable_start_timestamp(cur_st, cur_t) || cur_st < prev_t {
        return false;
    }
    cur_st > prev_t || usable_start_timestamp(prev_st, prev_t)
}

fn usable_start_timestamp(st: i64, t: i64) -> bool {
    st != 0 && st < t
}

/// Whether some point's start timestamp lies before the previous point although it
/// differs from the previous start timestamp: overlapping sample intervals, for
/// which `rate`/`increase` warn "sample has start time that overlaps with previous
/// sample timestamp for metric …".
pub(crate) fn start_timestamps_overlap(points: &[FPoint], start_timestamps: &[i64]) -> bool {
    points
        .windows(2)
        .zip(start_timestamps.windows(2))
        .any(|(p, st)| st[1] != 0 && st[1] < p[0].t && st[1] != st[0])
}

fn range_seconds(range_start_ms: i64, range_end_ms: i64) -> f64 {
    (range_end_ms - range_start_ms) as f64 / 1000.0
}

/// Linear interpolation at `t` between `p1` and `p2`; for counters a drop from `p1`
/// to `p2` means the counter restarted from 0.
fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.f < p1.f { 0.0 } else { p1.f };
    y1 + (p2.f - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// Sum of the values lost at every counter drop along `left, points…, right`.
fn counter_reset_correction(left: f64, right: f64, points: &[FPoint]) -> f64 {
    let mut correction = 0.0;
    let mut prev = left;
    for p in points {
        if p.f < prev {
            correction += prev;
        }
        prev = p.f;
    }
    if right < prev {
        correction += prev;
    }
    correction
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::{assert_close, evenly_spaced};

    fn linear(t0: i64, interval_ms: i64, start: f64, step: f64, n: usize) -> Vec<FPoint> {
        let v: Vec<f64> = (0..n).map(|i| start + step * i as f64).collect();
        evenly_spaced(t0, interval_ms, &v)
    }

    /// The points of a `load 5m`-style series that fall into `(start, end]`.
    fn window(pts: &[FPoint], start: i64, end: i64) -> Vec<FPoint> {
        pts.iter()
            .copied()
            .filter(|p| p.t > start && p.t <= end)
            .collect()
    }

    const M: i64 = 60_000;

    // A caller sliding windows over a series passes the drops found once; every
    // window must then give exactly (bit for bit) what a rescan gives.
    #[test]
    fn known_drops_give_the_rescanned_result_in_every_window() {
        let values = [
            5.0, 7.0, 2.0, 2.0, 9.0, 1.0, 0.0, 4.0, 4.5, 3.0, 8.0, 8.25, 1.5, 6.0,
        ];
        let pts = evenly_spaced(10_000, 15_000, &values);
        let drops = counter_drops(&pts);
        assert_eq!(drops, vec![1, 4, 5, 8, 11]);
        for kind in [RateKind::Rate, RateKind::Increase, RateKind::Delta] {
            for lo in 0..pts.len() {
                for hi in lo..=pts.len() {
                    let w = &pts[lo..hi];
                    let (start, end) = (pts[lo].t - 7_000, pts[hi.max(1) - 1].t + 3_000);
                    let in_window = drops.iter().filter(|&&d| d >= lo && d + 1 < hi);
                    let drop_values = in_window.map(|&d| pts[d].f);
                    let got = extrapolated_rate_with_drops(w, drop_values, start, end, kind);
                    let want = extrapolated_rate(w, &[], start, end, kind);
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "{kind:?} {lo}..{hi}"
                    );
                }
            }
        }
    }

    // functions.test "increase(http_requests_total[100m])" at 50m: every sample of
    // the series is in range, so only the zero clamp limits extrapolation.
    #[test]
    fn increase_clamps_extrapolation_at_counter_zero() {
        let cases: [(Vec<FPoint>, f64); 4] = [
            (linear(0, 5 * M, 0.0, 10.0, 11), 100.0),
            (
                evenly_spaced(
                    0,
                    5 * M,
                    &[
                        0.0, 18.0, 36.0, 54.0, 72.0, 90.0, 0.0, 18.0, 36.0, 54.0, 72.0, 90.0,
                    ],
                ),
                162.0,
            ),
            (linear(0, 5 * M, 10.0, 10.0, 11), 105.0),
            (linear(0, 5 * M, 1.0, 10.0, 11), 101.0),
        ];
        for (pts, want) in cases {
            let w = window(&pts, -50 * M, 50 * M);
            assert_close(
                extrapolated_rate(&w, &[], -50 * M, 50 * M, RateKind::Increase).unwrap(),
                want,
            );
        }
        // "increase(http_requests_total[30m])" at 30m over 0 1 2 3 2 3 4 → 7.
        let pts = evenly_spaced(0, 5 * M, &[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        let w = window(&pts, 0, 30 * M);
        assert_close(
            extrapolated_rate(&w, &[], 0, 30 * M, RateKind::Increase).unwrap(),
            7.0,
        );
    }

    // functions.test "rate(calculate_rate_window_total[50m])" = 0.26666666666666666 and
    // "rate(testcounter_zero_cutoff_total[20m])" at 10m (load 4m).
    #[test]
    fn rate_per_second_and_zero_cutoff() {
        let pts = linear(0, 5 * M, 0.0, 80.0, 11);
        let w = window(&pts, 0, 50 * M);
        assert_close(
            extrapolated_rate(&w, &[], 0, 50 * M, RateKind::Rate).unwrap(),
            0.26666666666666666,
        );
        for (start_value, want) in [(0.0, 0.5), (60.0, 0.55), (120.0, 0.6), (300.0, 0.6)] {
            let pts = linear(0, 4 * M, start_value, 240.0, 11);
            let w = window(&pts, -10 * M, 10 * M);
            assert_close(
                extrapolated_rate(&w, &[], -10 * M, 10 * M, RateKind::Rate).unwrap(),
                want,
            );
        }
    }

    // Like functions.test "rate(testcounter_reset_middle_total[50m])" (0+27x4 0+27x5
    // → 0.08), with steps of 10: window (0,50m] holds 10 20 30 40 0 10 20 30 40 50.
    #[test]
    fn counter_reset_adds_previous_value() {
        let vals: Vec<f64> = [
            0.0, 27.0, 54.0, 81.0, 108.0, 0.0, 27.0, 54.0, 81.0, 108.0, 135.0,
        ]
        .to_vec();
        let pts = evenly_spaced(0, 5 * M, &vals);
        assert_close(
            extrapolated_rate(&pts[1..], &[], 0, 50 * M, RateKind::Rate).unwrap(),
            0.08,
        );
        let vals = [
            0.0, 10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0,
        ];
        let pts = evenly_spaced(0, 300_000, &vals);
        let window = &pts[1..];
        let inc = extrapolated_rate(window, &[], 0, 3_000_000, RateKind::Increase).unwrap();
        // Raw 50-10 = 40 plus 40 at the reset = 80 over 45m, extrapolated to 50m.
        assert_close(inc, 80.0 * 50.0 / 45.0);
        // delta ignores the reset.
        let d = extrapolated_rate(window, &[], 0, 3_000_000, RateKind::Delta).unwrap();
        assert_close(d, 40.0 * 50.0 / 45.0);
    }

    #[test]
    fn counter_extrapolation_stops_at_zero() {
        // 5, 15 at t=50s and 60s in window (0, 60s]: average interval 10s, gap to start
        // 50s > 11s so extrapolate 5s; zero point is 5s before the first sample.
        let pts = evenly_spaced(50_000, 10_000, &[5.0, 15.0]);
        let inc = extrapolated_rate(&pts, &[], 0, 60_000, RateKind::Increase).unwrap();
        assert_close(inc, 10.0 * (10.0 + 5.0) / 10.0);
        // With a first value of 1, the zero point (1s) is closer than 5s.
        let pts = evenly_spaced(50_000, 10_000, &[1.0, 11.0]);
        let inc = extrapolated_rate(&pts, &[], 0, 60_000, RateKind::Increase).unwrap();
        assert_close(inc, 10.0 * (10.0 + 1.0) / 10.0);
        // delta has no zero clamp.
        let d = extrapolated_rate(&pts, &[], 0, 60_000, RateKind::Delta).unwrap();
        assert_close(d, 10.0 * 15.0 / 10.0);
    }

    #[test]
    fn fewer_than_two_points_give_nothing() {
        assert_eq!(
            extrapolated_rate(&evenly_spaced(0, 1, &[1.0]), &[], -10, 0, RateKind::Rate),
            None
        );
        assert_eq!(instant_value(&evenly_spaced(0, 1, &[1.0]), &[], true), None);
    }

    #[test]
    fn start_timestamp_reset_counts_without_drop() {
        let pts = evenly_spaced(10_000, 10_000, &[5.0, 7.0]);
        // Second sample started after the first one was taken: a reset.
        let st = [1_000, 15_000];
        let inc = extrapolated_rate(&pts, &st, 0, 20_000, RateKind::Increase).unwrap();
        let plain = extrapolated_rate(&pts, &[], 0, 20_000, RateKind::Increase).unwrap();
        assert!(inc > plain);
        assert!(!is_start_timestamp_reset(0, 10, 10, 20));
        assert!(is_start_timestamp_reset(5, 10, 10, 20));
        assert!(!is_start_timestamp_reset(5, 10, 0, 20));
        assert!(!is_start_timestamp_reset(5, 10, 30, 20));
        // A start equal to its own sample time is unusable, also as "previous".
        assert!(!is_start_timestamp_reset(5, 10, 20, 20));
        assert!(!is_start_timestamp_reset(10, 10, 10, 20));
        assert!(!is_start_timestamp_reset(15, 10, 10, 20));
    }

    // start_timestamps.test "increase(series[5m])" at 6m: a start timestamp inside
    // the window replaces left extrapolation by a zero point at that time.
    #[test]
    fn start_timestamp_inside_window_is_the_zero_point() {
        let (start, end) = (M, 6 * M);
        let st_const = |st: i64, n: usize| vec![st; n];
        // Points 2m..5m with values 1..4.
        let four = evenly_spaced(2 * M, M, &[1.0, 2.0, 3.0, 4.0]);
        let inc = |pts: &[FPoint], sts: &[i64]| {
            extrapolated_rate(pts, sts, start, end, RateKind::Increase)
        };
        assert_close(inc(&four, &[]).unwrap(), 5.0);
        assert_close(inc(&four, &st_const(M + 30_000, 4)).unwrap(), 36.0 / 7.0); // st_inside_extrapolate_right
        assert_close(inc(&four, &st_const(M, 4)).unwrap(), 5.0); // at the window start: not used
        assert_close(inc(&four, &st_const(2 * M, 4)).unwrap(), 5.0); // st_at_t
        assert_close(
            inc(&four, &st_const(2 * M + 1, 4)).unwrap(),
            6.333333333333333,
        ); // st_after_t
           // Two points at 3m, 4m (values 2, 3).
        let two = evenly_spaced(3 * M, M, &[2.0, 3.0]);
        assert_close(inc(&two, &[]).unwrap(), 2.0);
        assert_close(inc(&two, &st_const(M + 30_000, 2)).unwrap(), 3.6);
        assert_close(inc(&two, &st_const(3 * M + 1, 2)).unwrap(), 6.0);
        // A single point counts from zero only with a usable start inside the window.
        let one = evenly_spaced(4 * M, M, &[3.0]);
        assert_close(inc(&one, &[M + 30_000]).unwrap(), 3.0);
        assert_eq!(inc(&one, &[]), None);
        assert_eq!(inc(&one, &[M]), None);
        assert_eq!(inc(&one, &[4 * M]), None);
        assert_close(
            extrapolated_rate(&one, &[M + 30_000], start, end, RateKind::Rate).unwrap(),
            0.01,
        );
        // delta ignores start timestamps.
        assert_eq!(
            extrapolated_rate(&one, &[M + 30_000], start, end, RateKind::Delta),
            None
        );
    }

    /// start_timestamps.test `cumulative{type="st_resets"}`: 0+60x14 from 2m with
    /// start timestamps that restart the counter at 4m, 7m0.001s, 10m59s, 13m59.999s.
    fn st_resets_series() -> (Vec<FPoint>, Vec<i64>) {
        let points = linear(2 * M, M, 0.0, 60.0, 15);
        let starts = [90_000, 4 * M, 7 * M + 1, 11 * M - 1_000, 14 * M - 1];
        let sts = (0..15).map(|i| starts[i / 3]).collect();
        (points, sts)
    }

    #[test]
    fn start_timestamp_resets_reference_table() {
        let (points, sts) = st_resets_series();
        let increase = [
            420.0, 780.0, 675.0, 675.0, 1275.0, 1080.0, 900.0, 1725.0, 1440.0,
        ];
        let irate = [1.0, 6.0, 1.0, 1.0, 9.0, 1.0, 1.0, 12.0, 1.0];
        let resets = [1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0];
        for (k, t) in (7..=15).map(|m| m * M).enumerate() {
            let from = points.partition_point(|p| p.t <= t - 5 * M);
            let to = points.partition_point(|p| p.t <= t);
            let w = RangeWindow {
                points: &points[from..to],
                start_timestamps: &sts[from..to],
                range_start_ms: t - 5 * M,
                range_end_ms: t,
                eval_ms: t,
                mode: RangeMode::Plain,
            };
            assert_close(rate_like(&w, RateKind::Increase).unwrap(), increase[k]);
            assert_close(rate_like(&w, RateKind::Rate).unwrap(), increase[k] / 300.0);
            assert_close(
                instant_value(w.points, w.start_timestamps, true).unwrap(),
                irate[k],
            );
            assert_eq!(
                super::super::counting::resets(&w),
                Some(resets[k]),
                "resets at {t}"
            );
        }
    }

    // start_timestamps.test `delta{type=…}`: constant 60 every minute from 2m with
    // start timestamps marking each sample as a delta (or not).
    #[test]
    fn delta_series_with_start_timestamps() {
        let points = evenly_spaced(2 * M, M, &[60.0; 16]);
        let cases: [(&str, Option<i64>, f64); 5] = [
            ("no_st", None, 0.0),
            ("otel", Some(M), 300.0),
            ("gcp", Some(59_999), 300.0),
            ("minimal_range", Some(1), 300.0),
            ("empty_range", Some(0), 0.0),
        ];
        for (name, back, increase) in cases {
            let sts: Vec<i64> = match back {
                Some(b) => points.iter().map(|p| p.t - b).collect(),
                None => Vec::new(),
            };
            for t in (10..=15).map(|m| m * M) {
                let from = points.partition_point(|p| p.t <= t - 5 * M);
                let to = points.partition_point(|p| p.t <= t);
                let st = if sts.is_empty() {
                    &sts[..]
                } else {
                    &sts[from..to]
                };
                let w = RangeWindow {
                    points: &points[from..to],
                    start_timestamps: st,
                    range_start_ms: t - 5 * M,
                    range_end_ms: t,
                    eval_ms: t,
                    mode: RangeMode::Plain,
                };
                let close =
                    |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{name} at {t}: {a} != {b}");
                close(rate_like(&w, RateKind::Increase).unwrap(), increase);
                close(rate_like(&w, RateKind::Rate).unwrap(), increase / 300.0);
                let irate = instant_value(w.points, w.start_timestamps, true).unwrap();
                close(irate, if increase > 0.0 { 1.0 } else { 0.0 });
            }
        }
    }

    // start_timestamps.test overlap cases at 4m over points 2m, 3m, 4m.
    #[test]
    fn overlapping_start_timestamps() {
        let pts = evenly_spaced(2 * M, M, &[60.0, 120.0, 180.0]);
        assert!(start_timestamps_overlap(&pts, &[0, M, 2 * M])); // "overlap": starts 2m back
        assert!(!start_timestamps_overlap(&pts, &[0, 0, 0]));
        assert!(!start_timestamps_overlap(&pts, &[M, 2 * M, 3 * M])); // delta
        assert!(!start_timestamps_overlap(&pts, &[90_000, 90_000, 90_000])); // cumulative
        assert!(!start_timestamps_overlap(&pts, &[]));
    }

    // functions.test: irate(http_requests_total[50m]) at 50m for 0+10x10 / 0+20x10
    // = 10/300 and 20/300; with a reset, irate uses the last value.
    #[test]
    fn irate_and_idelta() {
        let pts = linear(0, 300_000, 0.0, 10.0, 11);
        assert_close(instant_value(&pts, &[], true).unwrap(), 10.0 / 300.0);
        assert_close(instant_value(&pts, &[], false).unwrap(), 10.0);
        let reset = evenly_spaced(0, 10_000, &[100.0, 7.0]);
        assert_close(instant_value(&reset, &[], true).unwrap(), 0.7);
        assert_close(instant_value(&reset, &[], false).unwrap(), -93.0);
        assert_eq!(
            instant_value(&evenly_spaced(5, 0, &[1.0, 2.0]), &[], true),
            None
        );
    }

    // extended_vectors.test style: anchored increase takes the sample at or before
    // the window start as the left value and does not extrapolate.
    #[test]
    fn anchored_increase_uses_boundary_samples() {
        let pts = evenly_spaced(0, 10_000, &[1.0, 2.0, 3.0, 0.0, 2.0]);
        // Window (10s, 40s]: left = value at 10s (2), right = value at 40s (2),
        // one reset dropping from 3 → +3.
        let v = extended_rate(&pts, 10_000, 40_000, false, RateKind::Increase).unwrap();
        assert_close(v, 3.0);
        let v = extended_rate(&pts, 10_000, 40_000, false, RateKind::Delta).unwrap();
        assert_close(v, 0.0);
        let v = extended_rate(&pts, 10_000, 40_000, false, RateKind::Rate).unwrap();
        assert_close(v, 0.1);
        // Nothing after the start: no result.
        assert_eq!(
            extended_rate(&pts[..2], 10_000, 40_000, false, RateKind::Rate),
            None
        );
    }

    /// The points an evaluator hands over for `metric[range]` at `t` in each mode.
    fn select(all: &[FPoint], start: i64, end: i64, mode: RangeMode) -> Vec<FPoint> {
        let mut from = all.partition_point(|p| p.t <= start);
        if mode != RangeMode::Plain && from > 0 {
            from -= 1;
        }
        let mut to = all.partition_point(|p| p.t <= end);
        if mode == RangeMode::Smoothed && to < all.len() {
            to += 1;
        }
        all[from..to].to_vec()
    }

    // extended_vectors.test "Reference from PROM-52: Complete dataset":
    // `load 15s metric 1+1x4 9+1x4`, increase(metric[1m] <mode>) at 5s, 20s, … 125s.
    #[test]
    fn prom52_reference_dataset() {
        let all = evenly_spaced(
            0,
            15_000,
            &[1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 10.0, 11.0, 12.0, 13.0],
        );
        let third = 1.0 / 3.0;
        let expected = [
            (
                RangeMode::Plain,
                [
                    None,
                    Some(1.8333333333333333),
                    Some(2.8333333333333333),
                    Some(4.0),
                    Some(4.0),
                    Some(8.0),
                    Some(8.0),
                    Some(8.0),
                    Some(4.0),
                ],
            ),
            (
                RangeMode::Anchored,
                [
                    Some(0.0),
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(4.0),
                    Some(7.0),
                    Some(7.0),
                    Some(7.0),
                    Some(7.0),
                ],
            ),
            (
                RangeMode::Smoothed,
                [
                    Some(third),
                    Some(1.0 + third),
                    Some(2.0 + third),
                    Some(3.0 + third),
                    Some(5.0),
                    Some(7.0),
                    Some(7.0),
                    Some(7.0),
                    Some(6.0),
                ],
            ),
        ];
        for (mode, want) in expected {
            for (i, want) in want.iter().enumerate() {
                let t = 5_000 + 15_000 * i as i64;
                let pts = select(&all, t - 60_000, t, mode);
                let w = RangeWindow {
                    points: &pts,
                    start_timestamps: &[],
                    range_start_ms: t - 60_000,
                    range_end_ms: t,
                    eval_ms: t,
                    mode,
                };
                let got = rate_like(&w, RateKind::Increase);
                match (got, want) {
                    (Some(g), Some(w)) => assert_close(g, *w),
                    (g, w) => assert_eq!(g, *w, "{mode:?} at {t}"),
                }
            }
        }
    }

    // extended_vectors.test "Basic test with counter resets" at 1m30s (window
    // (30s, 1m30s]) and "delta(metric[5m] smoothed)" at 5m30s over 11 -1 100 0.
    #[test]
    fn extended_vectors_counter_resets_and_smoothed_delta() {
        let all = evenly_spaced(0, M, &[3.0, 2.0, 4.0, 6.0]);
        let (start, end) = (30_000, 90_000);
        for (mode, kind, want) in [
            (RangeMode::Anchored, RateKind::Increase, 2.0),
            (RangeMode::Anchored, RateKind::Delta, -1.0),
            (RangeMode::Smoothed, RateKind::Increase, 2.0),
        ] {
            let pts = select(&all, start, end, mode);
            let w = RangeWindow {
                mode,
                ..RangeWindow::plain(&pts, start, end)
            };
            assert_close(rate_like(&w, kind).unwrap(), want);
        }
        let all = evenly_spaced(0, M, &[11.0, -1.0, 100.0, 0.0]);
        let (start, end) = (30_000, 330_000);
        let pts = select(&all, start, end, RangeMode::Smoothed);
        let w = RangeWindow {
            mode: RangeMode::Smoothed,
            ..RangeWindow::plain(&pts, start, end)
        };
        assert_close(rate_like(&w, RateKind::Delta).unwrap(), -5.0);
    }

    #[test]
    fn smoothed_delta_interpolates_at_boundaries() {
        let pts = evenly_spaced(0, 10_000, &[0.0, 10.0, 20.0]);
        // Window (5s, 15s]: interpolated 5 → 15.
        let v = extended_rate(&pts, 5_000, 15_000, true, RateKind::Delta).unwrap();
        assert_close(v, 10.0);
        // Counter reset between the boundary neighbours: earlier point counts as 0.
        let pts = evenly_spaced(0, 10_000, &[8.0, 2.0]);
        let v = extended_rate(&pts, 5_000, 15_000, true, RateKind::Increase).unwrap();
        // left = 0 + 2*0.5 = 1, right = 2 (last sample inside), no further reset.
        assert_close(v, 1.0);
    }
}
