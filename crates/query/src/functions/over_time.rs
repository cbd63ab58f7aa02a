//! The `*_over_time` aggregations over the float points of one window.
//!
//! Every kernel returns `None` for an empty window (Prometheus emits no element
//! for a series without samples in the range).

use super::kahan::kahan_inc;
use crate::value::FPoint;

/// `sum_over_time`: compensated sum; an overflowed sum is returned as is.
pub(crate) fn sum(points: &[FPoint]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let (mut s, mut c) = (0.0, 0.0);
    for p in points {
        (s, c) = kahan_inc(p.f, s, c);
    }
    Some(if s.is_infinite() { s } else { s + c })
}

/// `avg_over_time`: a compensated direct mean while the running sum stays finite;
/// once it would overflow, continue with an incremental mean (so that e.g. the
/// average of several values near `f64::MAX` stays finite).
pub(crate) fn avg(points: &[FPoint]) -> Option<f64> {
    let (first, rest) = points.split_first()?;
    let (mut sum, mut c) = (first.f, 0.0);
    let mut mean = 0.0;
    let mut incremental = false;
    let mut count = 1.0;
    for (i, p) in rest.iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(p.f, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.f / count, q * mean, q * c);
    }
    Some(if incremental {
        mean + c
    } else {
        sum / count + c / count
    })
}

/// `count_over_time` (float points only; the evaluator adds histogram points).
pub(crate) fn count(points: &[FPoint]) -> Option<f64> {
    (!points.is_empty()).then_some(points.len() as f64)
}

/// `present_over_time`: 1 for any non-empty window.
pub(crate) fn present(points: &[FPoint]) -> Option<f64> {
    (!points.is_empty()).then_some(1.0)
}

/// `last_over_time`.
pub(crate) fn last(points: &[FPoint]) -> Option<f64> {
    points.last().map(|p| p.f)
}

/// `first_over_time`.
pub(crate) fn first(points: &[FPoint]) -> Option<f64> {
    points.first().map(|p| p.f)
}

/// `ts_of_last_over_time`: timestamp of the last point in seconds.
pub(crate) fn ts_of_last(points: &[FPoint]) -> Option<f64> {
    points.last().map(|p| p.t as f64 / 1000.0)
}

/// `ts_of_first_over_time`: timestamp of the first point in seconds.
pub(crate) fn ts_of_first(points: &[FPoint]) -> Option<f64> {
    points.first().map(|p| p.t as f64 / 1000.0)
}

/// `max_over_time`. NaN only wins when every value is NaN (a NaN current best is
/// replaced by anything); ties keep the earliest point.
pub(crate) fn max(points: &[FPoint]) -> Option<f64> {
    select(points, |cur, best| cur > best || best.is_nan()).map(|p| p.f)
}

/// `min_over_time`, with the same NaN rule as [`max`].
pub(crate) fn min(points: &[FPoint]) -> Option<f64> {
    select(points, |cur, best| cur < best || best.is_nan()).map(|p| p.f)
}

/// `ts_of_max_over_time`: time (seconds) of the maximum; ties pick the latest point.
pub(crate) fn ts_of_max(points: &[FPoint]) -> Option<f64> {
    select(points, |cur, best| cur >= best || best.is_nan()).map(|p| p.t as f64 / 1000.0)
}

/// `ts_of_min_over_time`: time (seconds) of the minimum; ties pick the latest point.
pub(crate) fn ts_of_min(points: &[FPoint]) -> Option<f64> {
    select(points, |cur, best| cur <= best || best.is_nan()).map(|p| p.t as f64 / 1000.0)
}

/// The point that survives a left-to-right scan where `replace(cur, best)` decides
/// whether the current value takes over.
fn select(points: &[FPoint], replace: impl Fn(f64, f64) -> bool) -> Option<FPoint> {
    let mut best = *points.first()?;
    for p in points {
        if replace(p.f, best.f) {
            best = *p;
        }
    }
    Some(best)
}

/// Population variance with a compensated Welford update, as Prometheus computes it
/// for `stdvar_over_time` / `stddev_over_time`.
pub(crate) fn stdvar(points: &[FPoint]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    Some((aux + c_aux) / count)
}

/// `stddev_over_time`: square root of [`stdvar`].
pub(crate) fn stddev(points: &[FPoint]) -> Option<f64> {
    stdvar(points).map(f64::sqrt)
}

/// `quantile_over_time(q, …)`; see [`quantile`] for the edge cases.
pub(crate) fn quantile_over_time(q: f64, points: &[FPoint]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.f).collect();
    Some(quantile(q, &mut values))
}

/// `mad_over_time`: median absolute deviation from the median. A NaN anywhere in
/// the window makes the result NaN (it is not silently sorted away).
pub(crate) fn mad(points: &[FPoint]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    if points.iter().any(|p| p.f.is_nan()) {
        return Some(f64::NAN);
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.f).collect();
    let median = quantile(0.5, &mut values);
    let mut deviations: Vec<f64> = points.iter().map(|p| (p.f - median).abs()).collect();
    Some(quantile(0.5, &mut deviations))
}

/// The φ-quantile of `values` (sorted in place) as Prometheus' `quantile` computes
/// it: linear interpolation between the closest ranks, rank = q·(n−1). NaN for no
/// values or NaN `q`, −Inf for `q < 0`, +Inf for `q > 1`. NaN values sort first.
/// Shared with the `quantile` aggregator.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(nan_first_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Ascending order with every NaN before every number.
pub(crate) fn nan_first_cmp(a: &f64, b: &f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::evenly_spaced;

    fn pts(values: &[f64]) -> Vec<FPoint> {
        evenly_spaced(10_000, 10_000, values)
    }

    fn same(a: Option<f64>, b: f64) {
        let a = a.expect("a result");
        assert!(
            (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            "{a} != {b}"
        );
    }

    #[test]
    fn empty_window_has_no_result() {
        let none: &[FPoint] = &[];
        for f in [
            sum, avg, count, present, last, first, max, min, stdvar, stddev, mad, ts_of_max,
        ] {
            assert_eq!(f(none), None);
        }
        assert_eq!(quantile_over_time(0.5, none), None);
    }

    #[test]
    fn basic_aggregations() {
        let p = pts(&[1.0, 4.0, 2.0, 4.0]);
        same(sum(&p), 11.0);
        same(avg(&p), 2.75);
        same(count(&p), 4.0);
        same(first(&p), 1.0);
        same(last(&p), 4.0);
        same(max(&p), 4.0);
        same(min(&p), 1.0);
        same(ts_of_max(&p), 40.0);
        same(ts_of_min(&p), 10.0);
        same(ts_of_first(&p), 10.0);
        same(ts_of_last(&p), 40.0);
        same(present(&p), 1.0);
    }

    // functions.test: max_over_time/min_over_time over "NaN 1 NaN" style data:
    // a NaN never beats a number, but a NaN-only window gives NaN.
    #[test]
    fn nan_handling_in_min_max() {
        let p = pts(&[f64::NAN, 1.0, f64::NAN, 0.5]);
        same(max(&p), 1.0);
        same(min(&p), 0.5);
        same(max(&pts(&[f64::NAN, f64::NAN])), f64::NAN);
        // Inf wins against numbers.
        same(max(&pts(&[1.0, f64::INFINITY])), f64::INFINITY);
    }

    // functions.test: avg_over_time(metric_large[1m]) with values around 1.7e308
    // must not overflow, and sum keeps small contributions next to big ones.
    #[test]
    fn avg_survives_overflow_and_sum_is_compensated() {
        let big = f64::MAX / 1.1;
        same(avg(&pts(&[big, big, big])), big);
        let p = pts(&[1.0, 1e100, 1.0, -1e100]);
        same(sum(&p), 2.0);
        same(avg(&p), 0.5);
        same(sum(&pts(&[f64::INFINITY, 1.0])), f64::INFINITY);
    }

    // functions.test "stddev_over_time(metric[10s])" on 0 1 2 3 4 5 → sqrt(35/12).
    #[test]
    fn variance_matches_population_formula() {
        let p = pts(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        same(stdvar(&p), 17.5 / 6.0);
        same(stddev(&p), (17.5f64 / 6.0).sqrt());
        same(stdvar(&pts(&[1.5e99, 1.5e99, 1.5e99])), 0.0);
    }

    // functions.test quantile_over_time on data 0 1 2 3 (4 points):
    // q=0.5 → 1.5, q=0.75 → 2.25, q=0.8 → 2.4; out-of-range q gives ∓Inf.
    #[test]
    fn quantiles() {
        let p = pts(&[0.0, 1.0, 2.0, 3.0]);
        same(quantile_over_time(0.0, &p), 0.0);
        same(quantile_over_time(0.5, &p), 1.5);
        same(quantile_over_time(0.75, &p), 2.25);
        same(quantile_over_time(0.8, &p), 2.4);
        same(quantile_over_time(1.0, &p), 3.0);
        same(quantile_over_time(-1.0, &p), f64::NEG_INFINITY);
        same(quantile_over_time(2.0, &p), f64::INFINITY);
        same(quantile_over_time(f64::NAN, &p), f64::NAN);
        // NaN values sort first.
        same(quantile_over_time(0.0, &pts(&[3.0, f64::NAN])), f64::NAN);
        same(quantile_over_time(1.0, &pts(&[3.0, f64::NAN])), 3.0);
    }

    // functions.test mad_over_time(metric[70s]) on 1 3 5 7 9 11 13 ... see file; a
    // simple check: values 1 2 3 4 100 → median 3, deviations 2 1 0 1 97 → 1.
    #[test]
    fn median_absolute_deviation() {
        same(mad(&pts(&[1.0, 2.0, 3.0, 4.0, 100.0])), 1.0);
        same(mad(&pts(&[7.0])), 0.0);
        same(mad(&pts(&[2.0, 2.0, 2.0])), 0.0);
        // functions.test "mad_over_time(metric_nan[40s])" over 1 2 NaN 4.
        same(mad(&pts(&[1.0, 2.0, f64::NAN, 4.0])), f64::NAN);
    }
}
