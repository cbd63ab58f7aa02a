//! Element-wise float functions: `abs`, `ceil`, `exp`, trig, `sgn`, `round`, `clamp`….

use std::f64::consts::PI;

/// A function applied to each float sample of an instant vector (histogram samples
/// are skipped by the evaluator, as in Prometheus).
pub(crate) type FloatKernel = fn(f64) -> f64;

/// The kernel for a one-argument math function, or `None` for other names.
pub(crate) fn float_kernel(name: &str) -> Option<FloatKernel> {
    let k: FloatKernel = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => sgn,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / PI,
        "rad" => |v| v * PI / 180.0,
        _ => return None,
    };
    Some(k)
}

/// `sgn`: -1, 1, or the value itself for ±0 and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `round(v, to_nearest)`: rounds to a multiple of `to_nearest`, ties upward
/// (`round(-2.5) = -2`). Divides by the inverse, which Prometheus found to be more
/// accurate for fractional `to_nearest` such as 0.1.
pub(crate) fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// `clamp(v, min, max)`; `None` when `max < min`, in which case Prometheus returns
/// an empty vector. NaN stays NaN; a NaN bound yields NaN (Go's `math.Max`/`Min`).
pub(crate) fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

/// Go's `math.Max`: NaN if either is NaN; +0 beats -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN if either is NaN; -0 beats +0. It is `math.Max` mirrored
/// through negation, which maps NaN to NaN and swaps the signed zeros.
fn go_min(a: f64, b: f64) -> f64 {
    -go_max(-a, -b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str) -> FloatKernel {
        float_kernel(name).unwrap()
    }

    #[test]
    fn simple_functions() {
        assert_eq!(k("abs")(-2.5), 2.5);
        assert_eq!(k("ceil")(1.2), 2.0);
        assert_eq!(k("floor")(-1.2), -2.0);
        assert_eq!(k("sgn")(-3.0), -1.0);
        assert_eq!(k("sgn")(3.0), 1.0);
        assert!(k("sgn")(f64::NAN).is_nan());
        assert_eq!(k("log2")(8.0), 3.0);
        assert_eq!(k("log10")(1000.0), 3.0);
        assert!(k("ln")(-1.0).is_nan());
        assert_eq!(k("ln")(0.0), f64::NEG_INFINITY);
        assert!(k("sqrt")(-1.0).is_nan());
        assert!(float_kernel("round").is_none());
    }

    // trig_functions.test: deg(pi()) = 180, rad(180) = pi, atanh(1) = +Inf.
    #[test]
    fn trig_and_angles() {
        assert_eq!(k("deg")(PI), 180.0);
        assert_eq!(k("rad")(180.0), PI);
        assert_eq!(k("atanh")(1.0), f64::INFINITY);
        assert!(k("acosh")(0.5).is_nan());
        assert_eq!(k("sin")(0.0), 0.0);
        assert_eq!(k("cos")(0.0), 1.0);
    }

    // functions.test: round(0.005, 0.01) etc.; ties go up, also for negatives.
    #[test]
    fn rounding() {
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
        assert_eq!(round(1.234, 0.1), 1.2);
        assert_eq!(round(17.0, 5.0), 15.0);
        assert_eq!(round(17.5, 5.0), 20.0);
        assert!(round(f64::NAN, 1.0).is_nan());
    }

    // functions.test: clamp(test_clamp, 0, 75) / clamp_min / clamp_max, and
    // clamp(…, 5, -5) returns nothing.
    #[test]
    fn clamping() {
        assert_eq!(clamp(-50.0, 0.0, 75.0), Some(0.0));
        assert_eq!(clamp(100.0, 0.0, 75.0), Some(75.0));
        assert_eq!(clamp(100.0, f64::NEG_INFINITY, 75.0), Some(75.0));
        assert_eq!(clamp(-50.0, -25.0, f64::INFINITY), Some(-25.0));
        assert_eq!(clamp(1.0, 5.0, -5.0), None);
        assert!(clamp(f64::NAN, 0.0, 1.0).unwrap().is_nan());
        assert!(clamp(1.0, f64::NAN, 1.0).unwrap().is_nan());
        // Go's Max prefers +0 and Min prefers -0.
        assert!(clamp(-0.0, 0.0, 1.0).unwrap().is_sign_positive());
        assert!(clamp(0.0, -1.0, -0.0).unwrap().is_sign_negative());
    }
}
