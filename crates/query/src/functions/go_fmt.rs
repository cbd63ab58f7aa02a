//! Go `fmt` verbs used in Prometheus' error and annotation texts, so that our
//! messages match byte for byte.

/// Go's `%f`: six decimals, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn percent_f(v: f64) -> String {
    match special(v) {
        Some(s) => s.to_string(),
        None => format!("{v:.6}"),
    }
}

/// Go's `%g` for a float64: the shortest representation that round-trips, in
/// exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is < -4 or >= 6
/// (Go uses precision 6 for that decision when printing the shortest form).
pub(crate) fn percent_g(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits as `d.ddddde<exp>`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain decimal notation; Rust's `{}` is shortest round-trip and never uses an
    // exponent for finite values.
    format!("{v}")
}

/// Prometheus' `labels.FormatOpenMetricsFloat`, used for the quantile label of
/// `histogram_quantiles`: Go's `%g` with `.0` appended when the text has neither a
/// `.` nor an exponent (`1` → `1.0`, `0.5` → `0.5`, `1e+06` stays).
pub(crate) fn openmetrics_float(v: f64) -> String {
    let s = percent_g(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_f_matches_go() {
        assert_eq!(percent_f(1.0), "1.000000");
        assert_eq!(percent_f(-0.25), "-0.250000");
        assert_eq!(percent_f(f64::NAN), "NaN");
        assert_eq!(percent_f(f64::INFINITY), "+Inf");
    }

    #[test]
    fn openmetrics_float_matches_prometheus() {
        assert_eq!(openmetrics_float(0.5), "0.5");
        assert_eq!(openmetrics_float(1.0), "1.0");
        assert_eq!(openmetrics_float(0.0), "0.0");
        assert_eq!(openmetrics_float(-1.0), "-1.0");
        assert_eq!(openmetrics_float(0.99), "0.99");
        assert_eq!(openmetrics_float(1e6), "1e+06");
        assert_eq!(openmetrics_float(f64::INFINITY), "+Inf");
        assert_eq!(openmetrics_float(f64::NAN), "NaN");
    }

    #[test]
    fn percent_g_matches_go() {
        assert_eq!(percent_g(1.0), "1");
        assert_eq!(percent_g(-1.0), "-1");
        assert_eq!(percent_g(0.5), "0.5");
        assert_eq!(percent_g(1e6), "1e+06");
        assert_eq!(percent_g(123456.0), "123456");
        assert_eq!(percent_g(1234567.0), "1.234567e+06");
        assert_eq!(percent_g(1.5e-5), "1.5e-05");
        assert_eq!(percent_g(0.0001), "0.0001");
        assert_eq!(percent_g(1e21), "1e+21");
        assert_eq!(percent_g(f64::NAN), "NaN");
        assert_eq!(percent_g(f64::NEG_INFINITY), "-Inf");
    }
}
