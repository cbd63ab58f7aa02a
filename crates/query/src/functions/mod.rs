//! PromQL function kernels: pure computations over points, floats and labels,
//! wired into the evaluator by name.
//!
//! Nothing here sees evaluator state. The evaluator selects the points, resolves
//! `offset`/`@` into concrete window bounds, evaluates scalar arguments, drops
//! `__name__` where Prometheus does, and turns the flags returned here into
//! annotations (texts in [`annotations`], without the ` (line:col)` suffix).
//!
//! Entry points:
//! * [`range_kernel`]: functions over a range vector (`rate`, `*_over_time`, …),
//!   called once per series and step with a [`RangeWindow`];
//!   [`rate::start_timestamps_overlap`] for the start-timestamp warning;
//!   [`sliding::Sliding`] runs them across forward-moving windows of a series.
//! * [`math::float_kernel`] and [`date::date_kernel`]: per-element float functions;
//!   plus [`math::round`], [`math::clamp`].
//! * [`histogram::group_buckets`], [`histogram::bucket_quantile`],
//!   [`histogram::bucket_fraction`]: classic `le`-bucket histograms;
//!   [`go_fmt::openmetrics_float`] formats the `histogram_quantiles` label.
//! * [`labels`]: `label_replace`, `label_join`, `sort_by_label` ordering.
//! * [`over_time::quantile`]: the φ-quantile shared with the `quantile` aggregator.
//!
//! Semantics follow Prometheus 3.x (checked against the upstream `.test` files,
//! and against a local Prometheus through `promtool` in `promtool_oracle`).
//! Native histogram kernels live in [`native_histogram`].

pub(crate) mod annotations;
pub(crate) mod counting;
pub(crate) mod date;
pub(crate) mod go_fmt;
pub(crate) mod histogram;
pub(crate) mod kahan;
pub(crate) mod labels;
pub(crate) mod math;
pub(crate) mod native_histogram;
pub(crate) mod over_time;
#[cfg(test)]
mod promtool_oracle;
pub(crate) mod rate;
pub(crate) mod regression;
#[cfg(test)]
mod robustness;
pub(crate) mod sliding;
pub(crate) mod smoothing;

use crate::value::FPoint;
use crate::QueryError;
use rate::RateKind;

/// How the range selector was written; `anchored`/`smoothed` (Prometheus 3.x
/// extended range selectors) change which points the window holds and how
/// `rate`/`increase`/`delta`/`changes`/`resets` read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RangeMode {
    /// `x[5m]`: only points in `(range_start_ms, range_end_ms]`.
    #[default]
    Plain,
    /// `x[5m] anchored`: additionally the last point at or before `range_start_ms`
    /// (looked up like an instant selector at that time, i.e. within the lookback
    /// delta: `changes(x[1m] anchored)` must not reach back further).
    Anchored,
    /// `x[5m] smoothed`: like anchored, plus the first point after `range_end_ms`.
    Smoothed,
}

/// The float points of one series for one evaluation step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeWindow<'a> {
    /// Sorted by time, stale markers already removed.
    pub points: &'a [FPoint],
    /// Start ("created") timestamps parallel to `points`, or empty when unknown;
    /// 0 entries mean "unknown" too. Used by the counter functions only.
    pub start_timestamps: &'a [i64],
    /// Exclusive lower bound of the window: `@`-time − offset − range.
    pub range_start_ms: i64,
    /// Inclusive upper bound of the window: `@`-time − offset. For a subquery the
    /// same, with its range. `rate` divides by `range_end_ms - range_start_ms`.
    pub range_end_ms: i64,
    /// The evaluation step's timestamp (differs from `range_end_ms` under `@` and
    /// `offset`); only `predict_linear` uses it.
    pub eval_ms: i64,
    pub mode: RangeMode,
}

impl<'a> RangeWindow<'a> {
    /// A plain window without start timestamps whose evaluation time is its end.
    #[cfg(test)]
    pub(crate) fn plain(
        points: &'a [FPoint],
        range_start_ms: i64,
        range_end_ms: i64,
    ) -> RangeWindow<'a> {
        RangeWindow {
            points,
            start_timestamps: &[],
            range_start_ms,
            range_end_ms,
            eval_ms: range_end_ms,
            mode: RangeMode::Plain,
        }
    }
}

/// A range-vector function. `args` holds the function's scalar arguments in call
/// order with the range-vector argument left out (`quantile_over_time(q, m)` → `[q]`,
/// `predict_linear(m, t)` → `[t]`, `double_exponential_smoothing(m, sf, tf)` →
/// `[sf, tf]`); the evaluator has checked their count and types. `Ok(None)` means
/// "no output element for this series at this step".
pub(crate) type RangeKernel = fn(&RangeWindow<'_>, &[f64]) -> Result<Option<f64>, QueryError>;

/// The kernel for a range-vector function name, or `None` for names handled
/// elsewhere (`absent_over_time` is evaluator-level) or unknown.
///
/// Float-only semantics: windows containing native histograms are the evaluator's
/// concern (`count_over_time`/`present_over_time` must count them too).
pub(crate) fn range_kernel(name: &str) -> Option<RangeKernel> {
    let k: RangeKernel = match name {
        "rate" => |w, _| Ok(rate::rate_like(w, RateKind::Rate)),
        "increase" => |w, _| Ok(rate::rate_like(w, RateKind::Increase)),
        "delta" => |w, _| Ok(rate::rate_like(w, RateKind::Delta)),
        "irate" => |w, _| Ok(rate::instant_value(w.points, w.start_timestamps, true)),
        "idelta" => |w, _| Ok(rate::instant_value(w.points, w.start_timestamps, false)),
        "resets" => |w, _| Ok(counting::resets(w)),
        "changes" => |w, _| Ok(counting::changes(w)),
        "deriv" => |w, _| Ok(regression::deriv(w.points)),
        "predict_linear" => |w, a| Ok(regression::predict_linear(w.points, w.eval_ms, arg(a, 0))),
        "double_exponential_smoothing" => {
            |w, a| smoothing::double_exponential_smoothing(w.points, arg(a, 0), arg(a, 1))
        }
        "avg_over_time" => |w, _| Ok(over_time::avg(w.points)),
        "sum_over_time" => |w, _| Ok(over_time::sum(w.points)),
        "count_over_time" => |w, _| Ok(over_time::count(w.points)),
        "min_over_time" => |w, _| Ok(over_time::min(w.points)),
        "max_over_time" => |w, _| Ok(over_time::max(w.points)),
        "last_over_time" => |w, _| Ok(over_time::last(w.points)),
        "first_over_time" => |w, _| Ok(over_time::first(w.points)),
        "present_over_time" => |w, _| Ok(over_time::present(w.points)),
        "stddev_over_time" => |w, _| Ok(over_time::stddev(w.points)),
        "stdvar_over_time" => |w, _| Ok(over_time::stdvar(w.points)),
        "mad_over_time" => |w, _| Ok(over_time::mad(w.points)),
        "quantile_over_time" => |w, a| Ok(over_time::quantile_over_time(arg(a, 0), w.points)),
        "ts_of_min_over_time" => |w, _| Ok(over_time::ts_of_min(w.points)),
        "ts_of_max_over_time" => |w, _| Ok(over_time::ts_of_max(w.points)),
        "ts_of_first_over_time" => |w, _| Ok(over_time::ts_of_first(w.points)),
        "ts_of_last_over_time" => |w, _| Ok(over_time::ts_of_last(w.points)),
        _ => return None,
    };
    Some(k)
}

/// Scalar argument `i`, NaN when the evaluator passed fewer (it validates arity, so
/// this only guards against a panic).
fn arg(args: &[f64], i: usize) -> f64 {
    args.get(i).copied().unwrap_or(f64::NAN)
}

/// Helpers shared by the kernels' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::value::FPoint;

    /// Every range-vector function that has a kernel (all but `absent_over_time`).
    pub(crate) const RANGE_FUNCTIONS: &[&str] = &[
        "rate",
        "increase",
        "delta",
        "irate",
        "idelta",
        "resets",
        "changes",
        "deriv",
        "predict_linear",
        "double_exponential_smoothing",
        "avg_over_time",
        "sum_over_time",
        "count_over_time",
        "min_over_time",
        "max_over_time",
        "last_over_time",
        "first_over_time",
        "present_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "mad_over_time",
        "quantile_over_time",
        "ts_of_min_over_time",
        "ts_of_max_over_time",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
    ];

    /// `values` as points `step_ms` apart, the first at `t0`.
    pub(crate) fn evenly_spaced(t0: i64, step_ms: i64, values: &[f64]) -> Vec<FPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &f)| FPoint {
                t: t0 + i as i64 * step_ms,
                f,
            })
            .collect()
    }

    /// Equal within 1e-9 relative to the larger magnitude (absolute below 1).
    pub(crate) fn assert_close(a: f64, b: f64) {
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            "{a} != {b}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_function_has_a_kernel() {
        for name in test_support::RANGE_FUNCTIONS {
            assert!(range_kernel(name).is_some(), "{name}");
        }
        assert!(range_kernel("absent_over_time").is_none());
        assert!(range_kernel("abs").is_none());
    }

    #[test]
    fn dispatch_passes_scalar_arguments() {
        let pts: Vec<FPoint> = (0..4)
            .map(|i| FPoint {
                t: i * 1000,
                f: i as f64,
            })
            .collect();
        let w = RangeWindow::plain(&pts, -1000, 3000);
        let q = range_kernel("quantile_over_time").unwrap();
        assert_eq!(q(&w, &[0.5]).unwrap(), Some(1.5));
        let p = range_kernel("predict_linear").unwrap();
        assert_eq!(p(&w, &[2.0]).unwrap(), Some(5.0));
        let d = range_kernel("double_exponential_smoothing").unwrap();
        assert!(d(&w, &[2.0, 0.5]).is_err());
        let r = range_kernel("rate").unwrap();
        // 3 over 3s, no extrapolation (counter zero at the first point), per 4s range.
        assert_eq!(r(&w, &[]).unwrap(), Some(0.75));
    }
}
