//! Texts of the native histogram annotations (Prometheus' `annotations` package
//! wording). The evaluator appends the position and deduplicates.

use crate::functions::annotations::with_metric_name;

/// Which operation met the condition, in Prometheus' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Addition,
    Subtraction,
    Aggregation,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Addition => "addition",
            Operation::Subtraction => "subtraction",
            Operation::Aggregation => "aggregation",
        }
    }
}

/// A function that needs one kind of sample got floats and histograms mixed.
pub(crate) fn mixed_floats_histograms(metric_name: &str) -> String {
    format!("PromQL warning: encountered a mix of histograms and floats for metric name {metric_name:?}")
}

/// An aggregation got floats and histograms in one group.
pub(crate) fn mixed_floats_histograms_aggregation() -> String {
    "PromQL warning: encountered a mix of histograms and floats for aggregation".into()
}

pub(crate) fn mixed_classic_native(metric_name: Option<&str>) -> String {
    with_metric_name(
        "PromQL warning: vector contains a mix of classic and native histograms",
        metric_name,
    )
}

pub(crate) fn mixed_exponential_custom(metric_name: &str) -> String {
    format!("PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric_name:?}")
}

pub(crate) fn not_counter(metric_name: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a counter: {metric_name:?}")
}

pub(crate) fn not_gauge(metric_name: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a gauge: {metric_name:?}")
}

pub(crate) fn counter_reset_collision(op: Operation) -> String {
    format!(
        "PromQL warning: conflicting counter resets during histogram {}",
        op.as_str()
    )
}

pub(crate) fn custom_buckets_reconciled(op: Operation) -> String {
    format!(
        "PromQL info: mismatched custom buckets were reconciled during {}",
        op.as_str()
    )
}

/// An aggregation that only works on floats skipped histogram samples.
pub(crate) fn ignored_in_aggregation(aggregation: &str) -> String {
    format!("PromQL info: ignored histogram in {aggregation} aggregation")
}

/// A float-only range function skipped the histograms of a mixed window.
pub(crate) fn ignored_in_mixed_range(metric_name: &str) -> String {
    format!("PromQL info: ignored histograms in a range containing both floats and histograms for metric name {metric_name:?}")
}

/// A binary operator got a histogram where it needs a float (or vice versa).
pub(crate) fn incompatible_types_in_binop(lhs: &str, op: &str, rhs: &str) -> String {
    format!("PromQL info: incompatible sample types encountered for binary operator {op:?}: {lhs} {op} {rhs}")
}

pub(crate) fn quantile_nan_result(metric_name: Option<&str>) -> String {
    with_metric_name(
        "PromQL info: input to histogram_quantile has NaN observations, result is NaN",
        metric_name,
    )
}

pub(crate) fn quantile_nan_skew(metric_name: Option<&str>) -> String {
    with_metric_name(
        "PromQL info: input to histogram_quantile has NaN observations, result is skewed higher",
        metric_name,
    )
}

pub(crate) fn fraction_nans(metric_name: Option<&str>) -> String {
    with_metric_name(
        "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions",
        metric_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Texts as native_histograms.test expects them.
    #[test]
    fn texts_match_prometheus() {
        assert_eq!(
            not_gauge("nhcb_metric"),
            "PromQL warning: this native histogram metric is not a gauge: \"nhcb_metric\""
        );
        assert_eq!(
            counter_reset_collision(Operation::Aggregation),
            "PromQL warning: conflicting counter resets during histogram aggregation"
        );
        assert_eq!(
            quantile_nan_result(Some("histogram_nan")),
            "PromQL info: input to histogram_quantile has NaN observations, result is NaN for metric name \"histogram_nan\""
        );
        assert_eq!(
            custom_buckets_reconciled(Operation::Subtraction),
            "PromQL info: mismatched custom buckets were reconciled during subtraction"
        );
    }
}
