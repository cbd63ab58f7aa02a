//! Calendar functions (`hour`, `month`, `days_in_month`, …) of Unix seconds, in UTC.

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

/// A calendar function of a timestamp in seconds.
pub(crate) type DateKernel = fn(f64) -> f64;

/// The kernel for a date function name. With no argument the evaluator applies it
/// to `time()`; histogram samples are skipped.
pub(crate) fn date_kernel(name: &str) -> Option<DateKernel> {
    let k: DateKernel = match name {
        "year" => |s| field(s, |d| d.year() as f64),
        "month" => |s| field(s, |d| d.month() as f64),
        "day_of_month" => |s| field(s, |d| d.day() as f64),
        "day_of_year" => |s| field(s, |d| d.ordinal() as f64),
        "day_of_week" => |s| field(s, |d| d.weekday().num_days_from_sunday() as f64),
        "hour" => |s| field(s, |d| d.hour() as f64),
        "minute" => |s| field(s, |d| d.minute() as f64),
        "days_in_month" => |s| field(s, |d| days_in_month(d.year(), d.month()) as f64),
        _ => return None,
    };
    Some(k)
}

/// Applies `f` to the UTC date-time of `seconds`, truncated toward zero as Go's
/// `int64(f)` conversion does. NaN, ±Inf and times chrono cannot represent give NaN
/// (Go would produce an arbitrary date for those).
fn field(seconds: f64, f: impl Fn(&DateTime<chrono::Utc>) -> f64) -> f64 {
    if !seconds.is_finite() || seconds.abs() >= 9.2e18 {
        return f64::NAN;
    }
    match DateTime::from_timestamp(seconds.trunc() as i64, 0) {
        Some(d) => f(&d),
        None => f64::NAN,
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first_next = NaiveDate::from_ymd_opt(ny, nm, 1);
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    match (first, first_next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str, s: f64) -> f64 {
        date_kernel(name).unwrap()(s)
    }

    // functions.test: 1136239445 = 2006-01-02T22:04:05Z (Monday).
    #[test]
    fn go_reference_time() {
        let t = 1136239445.0;
        assert_eq!(k("year", t), 2006.0);
        assert_eq!(k("month", t), 1.0);
        assert_eq!(k("day_of_month", t), 2.0);
        assert_eq!(k("day_of_year", t), 2.0);
        assert_eq!(k("day_of_week", t), 1.0);
        assert_eq!(k("hour", t), 22.0);
        assert_eq!(k("minute", t), 4.0);
        assert_eq!(k("days_in_month", t), 31.0);
    }

    #[test]
    fn epoch_leap_years_and_negative_times() {
        assert_eq!(k("year", 0.0), 1970.0);
        assert_eq!(k("day_of_week", 0.0), 4.0); // Thursday
                                                // 2016-02-15: leap February.
        assert_eq!(k("days_in_month", 1455494400.0), 29.0);
        assert_eq!(k("day_of_year", 1483142400.0), 366.0); // 2016-12-31
                                                           // -1.5 s truncates to -1 s: 1969-12-31T23:59:59Z.
        assert_eq!(k("year", -1.5), 1969.0);
        assert_eq!(k("minute", -1.5), 59.0);
        assert!(k("hour", f64::NAN).is_nan());
        assert!(date_kernel("time").is_none());
    }
}
