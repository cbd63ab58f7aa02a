//! `double_exponential_smoothing` (Holt's linear method; `holt_winters` before 3.0).

use crate::value::FPoint;
use crate::QueryError;

/// Smooths the window with smoothing factor `sf` and trend factor `tf`, both
/// strictly between 0 and 1 (otherwise the query fails, as in Prometheus). Needs at
/// least two points; the initial trend is the first difference. Like Prometheus,
/// a NaN factor passes validation and simply yields NaN.
pub(crate) fn double_exponential_smoothing(
    points: &[FPoint],
    sf: f64,
    tf: f64,
) -> Result<Option<f64>, QueryError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            super::go_fmt::percent_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            super::go_fmt::percent_f(tf)
        )));
    }
    if points.len() < 2 {
        return Ok(None);
    }
    // s0: previous smoothed value, s1: current smoothed value, b: trend.
    let mut s0 = 0.0;
    let mut s1 = points[0].f;
    let mut b = points[1].f - points[0].f;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.f;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::evenly_spaced;

    fn pts(values: &[f64]) -> Vec<FPoint> {
        evenly_spaced(0, 1000, values)
    }

    #[test]
    fn a_straight_line_is_reproduced() {
        // A perfect linear trend keeps trend = slope, so the result is the last value.
        let v = double_exponential_smoothing(&pts(&[0.0, 10.0, 20.0, 30.0, 40.0]), 0.5, 0.5)
            .unwrap()
            .unwrap();
        assert!((v - 40.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn hand_computed_example() {
        // sf=0.5, tf=0.5 on 1, 3, 4:
        // i=1: b=2, s1 = 0.5*3 + 0.5*(1+2) = 3
        // i=2: b = 0.5*(3-1) + 0.5*2 = 2, s1 = 0.5*4 + 0.5*(3+2) = 4.5
        let v = double_exponential_smoothing(&pts(&[1.0, 3.0, 4.0]), 0.5, 0.5)
            .unwrap()
            .unwrap();
        assert_eq!(v, 4.5);
    }

    #[test]
    fn factors_are_validated() {
        let e = double_exponential_smoothing(&pts(&[1.0, 2.0]), 1.0, 0.5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        let e = double_exponential_smoothing(&pts(&[1.0, 2.0]), 0.5, -0.25).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: -0.250000"
        );
        let nan = double_exponential_smoothing(&pts(&[1.0, 2.0]), f64::NAN, 0.5)
            .unwrap()
            .unwrap();
        assert!(nan.is_nan());
        assert_eq!(
            double_exponential_smoothing(&pts(&[1.0]), 0.5, 0.5).unwrap(),
            None
        );
    }
}
