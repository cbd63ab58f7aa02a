//! Prometheus-style durations (`1y2w3d4h5m6s7ms`), used by flags and API parameters.
//!
//! The unit set and the "largest unit first, each at most once" rule follow
//! Prometheus' `model.ParseDuration`, so `--retention-period 15d` and `?step=1m30s`
//! mean the same here as there. Years are 365 days and weeks 7 days, as in Prometheus.

use std::time::Duration;

/// Units in the only order Prometheus accepts them, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration such as `31d`, `1h30m` or `500ms`; `0` alone is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || {
        format!("invalid duration {s:?}: want a number with a unit of y, w, d, h, m, s or ms, e.g. 15d or 1h30m")
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(err());
        }
        let n: u64 = s[digits_start..pos].parse().map_err(|_| err())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(err)?
            + next_unit;
        next_unit = idx + 1;
        total_ms = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(err)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses an API duration: float seconds (`15`, `0.5`) or a Prometheus duration (`15s`).
pub fn parse_api_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 || secs > (i64::MAX / 1000) as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    parse_duration(s).map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        parse_duration(s).unwrap().as_millis()
    }

    #[test]
    fn accepts_prometheus_forms() {
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("15d"), 15 * 86_400_000);
        assert_eq!(ms("1y"), 365 * 86_400_000);
        assert_eq!(ms("1w"), 7 * 86_400_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1s500ms"), 1500);
        assert_eq!(ms("2h"), 7_200_000);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "d",
            "1",
            "1x",
            "1m1h",
            "1s1s",
            "-1s",
            "1.5h",
            "h1",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn api_durations_take_seconds_or_units() {
        assert_eq!(parse_api_duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(
            parse_api_duration("0.25").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_api_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_api_duration("-1").is_err());
        assert!(parse_api_duration("NaN").is_err());
        assert!(parse_api_duration("abc").is_err());
    }
}
