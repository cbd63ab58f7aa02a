//! Compensated (Kahan–Babuška–Neumaier) summation, used wherever Prometheus sums
//! floats so that results agree with it to the last few ulps.

/// Adds `inc` to the running `sum` with compensation term `c`; returns the new
/// `(sum, c)`. The final value is `sum + c` unless `sum` is infinite.
///
/// Neumaier's variant: the compensation uses whichever of `sum`/`inc` is larger in
/// magnitude, and is reset once the sum overflows so an `Inf` never turns into
/// `NaN` through `Inf - Inf` in the correction.
#[inline]
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensates_catastrophic_cancellation() {
        // Naive summation of 1, 1e100, 1, -1e100 yields 0; compensated gives 2.
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn overflow_resets_compensation() {
        let (s, c) = kahan_inc(f64::MAX, f64::MAX, 1.0);
        assert_eq!(s, f64::INFINITY);
        assert_eq!(c, 0.0);
    }
}
