//! Number formatting shared by the text encoders.

/// Go-compatible spellings for the specials (`NaN`, `+Inf`, `-Inf`); otherwise the shortest text that parses back to the same `f64` (integers without a fraction).
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v == 0.0 && v.is_sign_negative() {
        "-0".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}
