//! Sample values in Go's `strconv.FormatFloat(v, 'f', -1, 64)` form, written fast.
//!
//! Query responses print one value per point, so formatting dominates rendering.
//! `zmij` finds the shortest round-tripping digits (Go's digits, ties broken towards
//! an even last digit as Go does; Rust's `Display` rounds ties up) several times faster
//! than `Display`, but it switches to an
//! exponent for very large and very small magnitudes; Go's `'f'` form never does, so
//! its output is re-laid-out as plain decimal here.

/// Appends `v` exactly as Go's `FormatFloat(v, 'f', -1, 64)` would, with Prometheus'
/// spellings `NaN`, `+Inf` and `-Inf`.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v == v.trunc() && v.abs() < 1e15 {
        // Integral values (counters, byte sizes, flags) are the common case: no digit search.
        if v == 0.0 && v.is_sign_negative() {
            out.push('-');
        }
        let mut buf = itoa::Buffer::new();
        out.push_str(buf.format(v as i64));
    } else {
        let mut buf = zmij::Buffer::new();
        let printed = buf.format_finite(v);
        if printed.contains('e') {
            write_plain_decimal(out, printed);
        } else {
            // Already plain; only an integral value carries a redundant `.0`.
            out.push_str(printed.strip_suffix(".0").unwrap_or(printed));
        }
    }
}

/// Rewrites a finite number printed as `[-]digits[.digits][e[-]exp]` without an exponent
/// and without redundant zeros (`1.0` → `1`, `1.5e-7` → `0.00000015`, `1e21` → `1` and 21 zeros).
fn write_plain_decimal(out: &mut String, printed: &str) {
    let (negative, unsigned) = match printed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, printed),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The significant digits and where the decimal point falls among them.
    let mut digits = [0u8; 40];
    let mut len = 0usize;
    for &b in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
        if len < digits.len() {
            digits[len] = b;
            len += 1;
        }
    }
    let mut point = int_part.len() as i32 + exponent;
    let leading_zeros = digits[..len].iter().take_while(|&&d| d == b'0').count();
    let digits = &digits[leading_zeros..len];
    point -= leading_zeros as i32;
    let trailing_zeros = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &digits[..digits.len() - trailing_zeros];
    if negative {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
        return;
    }
    // Only ASCII digits reach here (the printer's output), so byte → char is exact.
    let push_digits = |out: &mut String, ds: &[u8]| ds.iter().for_each(|&d| out.push(d as char));
    let push_zeros = |out: &mut String, n: i32| (0..n).for_each(|_| out.push('0'));
    let n = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        push_zeros(out, -point);
        push_digits(out, digits);
    } else if point >= n {
        push_digits(out, digits);
        push_zeros(out, point - n);
    } else {
        push_digits(out, &digits[..point as usize]);
        out.push('.');
        push_digits(out, &digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn go(v: f64) -> String {
        let mut s = String::new();
        write_value(&mut s, v);
        s
    }

    /// Rust's `Display` for f64 prints the shortest round-tripping digits without an
    /// exponent: the same text as Go's `'f', -1` for finite values, except when `v`
    /// lies exactly halfway between two shortest candidates (see [`assert_go_form`]).
    fn reference(v: f64) -> String {
        format!("{v}")
    }

    /// `go(v)` is Go's text for `v`: `Display`'s, or, where the two differ, the other
    /// candidate of an exact tie, which Go (like Python's `repr`) breaks towards an
    /// even last digit while `Display` rounds it up.
    fn assert_go_form(v: f64) -> Result<(), TestCaseError> {
        let (ours, display) = (go(v), reference(v));
        if ours == display {
            return Ok(());
        }
        prop_assert_eq!(
            ours.parse::<f64>().ok(),
            Some(v),
            "{} does not round-trip",
            ours
        );
        prop_assert_eq!(ours.len(), display.len(), "{} vs {}", ours, display);
        let (a, b) = (ours.as_bytes(), display.as_bytes());
        let n = a.len();
        prop_assert_eq!(&a[..n - 1], &b[..n - 1], "{} vs {}", ours, display);
        prop_assert_eq!(a[n - 1] + 1, b[n - 1], "{} vs {}", ours, display);
        prop_assert!(
            (a[n - 1] - b'0') % 2 == 0,
            "{} is not the even candidate",
            ours
        );
        Ok(())
    }

    #[test]
    fn exact_ties_round_to_even_like_go() {
        // 4070493412750.78125 is exactly halfway between ...7812 and ...7813; Prometheus
        // 2.42 answers `vector(4070493412750.78125)` with "4070493412750.7812".
        assert_eq!(go(4070493412750.781_25), "4070493412750.7812");
        assert_eq!(reference(4070493412750.781_25), "4070493412750.7813");
        assert_go_form(4070493412750.781_25).unwrap();
    }

    #[test]
    fn known_values() {
        assert_eq!(go(1.0), "1");
        assert_eq!(go(0.1), "0.1");
        assert_eq!(go(1e21), "1000000000000000000000");
        assert_eq!(go(1e-7), "0.0000001");
        assert_eq!(go(1.5e-7), "0.00000015");
        assert_eq!(go(-2.5), "-2.5");
        assert_eq!(go(0.0), "0");
        assert_eq!(go(-0.0), "-0");
        assert_eq!(go(123456.789), "123456.789");
        assert_eq!(go(f64::MAX), reference(f64::MAX));
        assert_eq!(go(f64::MIN_POSITIVE), reference(f64::MIN_POSITIVE));
        assert_eq!(go(5e-324), reference(5e-324));
        assert_eq!(go(1e15), "1000000000000000");
        assert_eq!(go(-1e16), "-10000000000000000");
        assert_eq!(go(f64::NAN), "NaN");
        assert_eq!(go(f64::INFINITY), "+Inf");
        assert_eq!(go(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn powers_of_ten_and_their_neighbours() {
        for e in -330..=310 {
            let v: f64 = format!("1e{e}").parse().unwrap();
            for x in [
                v,
                -v,
                v * 3.0,
                v / 7.0,
                f64::from_bits(v.to_bits().saturating_add(1)),
            ] {
                if x.is_finite() {
                    assert_go_form(x).unwrap_or_else(|e| panic!("bits {:#x}: {e}", x.to_bits()));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_finite_value_matches_display(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            assert_go_form(v)?;
        }

        #[test]
        fn gauge_like_values_match_display(v in -1e9f64..1e9) {
            assert_go_form(v)?;
        }
    }
}
