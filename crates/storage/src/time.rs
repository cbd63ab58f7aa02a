//! Time partitioning: one partition per UTC day.

pub(crate) const MS_PER_DAY: i64 = 86_400_000;

/// Day number since the Unix epoch (negative before 1970).
pub(crate) type Day = i64;

pub(crate) fn day_of(ts_ms: i64) -> Day {
    ts_ms.div_euclid(MS_PER_DAY)
}

/// First millisecond of `day`.
pub(crate) fn day_start(day: Day) -> i64 {
    day.saturating_mul(MS_PER_DAY)
}

/// Last millisecond of `day`.
pub(crate) fn day_end(day: Day) -> i64 {
    day_start(day).saturating_add(MS_PER_DAY - 1)
}

/// Days overlapping `[start_ms, end_ms]`.
pub(crate) fn days_in(start_ms: i64, end_ms: i64) -> std::ops::RangeInclusive<Day> {
    day_of(start_ms)..=day_of(end_ms)
}

/// Directory name of a partition: `YYYY-MM-DD` (UTC), readable and sortable.
pub(crate) fn partition_dir_name(day: Day) -> String {
    let date = chrono::DateTime::from_timestamp(day_start(day) / 1000, 0)
        .map(|d| d.date_naive().format("%Y-%m-%d").to_string());
    date.unwrap_or_else(|| format!("day{day}"))
}

/// Inverse of [`partition_dir_name`].
pub(crate) fn parse_partition_dir_name(name: &str) -> Option<Day> {
    if let Some(n) = name.strip_prefix("day") {
        return n.parse().ok();
    }
    let date = chrono::NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()?;
    let secs = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(day_of(secs * 1000))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_dir_names() {
        for day in [-3, 0, 1, 20_000, 20_413] {
            let name = partition_dir_name(day);
            assert_eq!(parse_partition_dir_name(&name), Some(day), "{name}");
        }
        assert_eq!(partition_dir_name(0), "1970-01-01");
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_end(0), MS_PER_DAY - 1);
    }
}
