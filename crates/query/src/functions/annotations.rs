//! Texts of the annotations Prometheus attaches to function results. The
//! evaluator appends the position of the offending argument (` (1:5)`) and
//! deduplicates; the conditions live next to the kernels that detect them.

use super::go_fmt::percent_g;

/// `quantile_over_time`, `histogram_quantile(s)` and the `quantile` aggregator,
/// when `q` is NaN or outside [0, 1].
pub(crate) fn invalid_quantile_warning(q: f64) -> Option<String> {
    (q.is_nan() || !(0.0..=1.0).contains(&q)).then(|| {
        format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            percent_g(q)
        )
    })
}

/// `rate`/`increase` over a named float series whose name does not look like a
/// counter's. Only for series with float samples and a metric name.
pub(crate) fn possible_non_counter_info(metric_name: Option<&str>) -> Option<String> {
    let name = metric_name.filter(|n| !n.is_empty())?;
    let counter_like = ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|s| name.ends_with(s));
    (!counter_like).then(|| {
        format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}")
    })
}

/// `rate`/`increase` when [`super::rate::start_timestamps_overlap`] holds for a
/// series (start_timestamps.test).
pub(crate) fn start_timestamp_overlap_warning(metric_name: &str) -> String {
    format!("PromQL warning: sample has start time that overlaps with previous sample timestamp for metric {metric_name:?}")
}

/// `histogram_quantile` when [`super::histogram::MonotonicityFix::forced`] is set.
/// Prometheus (3.14+) appends the affected bucket range, the largest removed
/// decrease, the number of samples and their time range, aggregated over the whole
/// query; callers that aggregate may append that detail after this prefix.
pub(crate) fn forced_monotonicity_info(metric_name: Option<&str>) -> String {
    let base = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity \
                (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";
    with_metric_name(base, metric_name)
}

/// Classic histogram buckets whose `le` label is missing or not a number.
pub(crate) fn bad_bucket_label_warning(metric_name: Option<&str>, le_value: &str) -> String {
    let base = format!(
        "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le_value:?}"
    );
    with_metric_name(&base, metric_name)
}

pub(crate) fn with_metric_name(base: &str, metric_name: Option<&str>) -> String {
    match metric_name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{base} for metric name {n:?}"),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // aggregators.test / histograms.test: "... got NaN", functions.test: "got -1", "got 2".
    #[test]
    fn quantile_warning() {
        assert_eq!(
            invalid_quantile_warning(f64::NAN).unwrap(),
            "PromQL warning: quantile value should be between 0 and 1, got NaN"
        );
        assert!(invalid_quantile_warning(-1.0).unwrap().ends_with("got -1"));
        assert!(invalid_quantile_warning(2.0).unwrap().ends_with("got 2"));
        assert_eq!(invalid_quantile_warning(0.0), None);
        assert_eq!(invalid_quantile_warning(1.0), None);
    }

    #[test]
    fn non_counter_info() {
        assert_eq!(
            possible_non_counter_info(Some("http_requests")).unwrap(),
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"http_requests\""
        );
        assert_eq!(possible_non_counter_info(Some("http_requests_total")), None);
        assert_eq!(possible_non_counter_info(Some("x_bucket")), None);
        assert_eq!(possible_non_counter_info(None), None);
    }

    #[test]
    fn start_timestamp_overlap_text() {
        assert_eq!(
            start_timestamp_overlap_warning("counter_total"),
            "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric \"counter_total\""
        );
    }

    // histograms.test: bucket label "le" is missing or has a malformed value of "" for metric name "series".
    #[test]
    fn histogram_texts() {
        assert_eq!(
            bad_bucket_label_warning(Some("series"), ""),
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\" for metric name \"series\""
        );
        assert!(forced_monotonicity_info(None).starts_with(
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://"
        ));
        assert!(forced_monotonicity_info(Some("m"))
            .ends_with("#histogram_quantile) for metric name \"m\""));
    }
}
