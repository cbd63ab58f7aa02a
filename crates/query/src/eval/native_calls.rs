//! Function calls on native histogram samples: the `histogram_*` functions and
//! the range functions over windows holding histograms.
//!
//! Range windows keep floats and histograms apart; here they are merged by
//! Prometheus' rules: most functions need one kind only and warn about a mix,
//! float-only functions skip histograms (with an info when floats were there
//! too), and the counting functions count both.

use std::sync::Arc;

use tidemark_model::FloatHistogram;

use super::{Elem, Evaluator, RangeElem};
use crate::ast::{Call, Pos, RangeMode};
use crate::functions::native_histogram::counter::{self, Kind, Note};
use crate::functions::native_histogram::notes::{self, Operation};
use crate::functions::native_histogram::{stats, HistogramSum};
use crate::value::{FPoint, HPoint};

/// What a range function makes of a window holding histograms.
pub(super) enum RangeOutcome {
    /// No histograms in the window: the float kernel decides.
    FloatsOnly,
    /// The function's result (or none) for this series.
    Done(Option<Elem>),
}

/// Range functions that read only floats and skip histograms.
fn float_only(name: &str) -> bool {
    matches!(
        name,
        "min_over_time"
            | "max_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "quantile_over_time"
            | "mad_over_time"
            | "deriv"
            | "predict_linear"
            | "double_exponential_smoothing"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
    )
}

impl Evaluator<'_> {
    /// Range function `c` over one series of a window that may hold histograms.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn histogram_range_call(
        &self,
        c: &Call,
        s: &RangeElem<'_>,
        range_start: i64,
        range_end: i64,
        mode: RangeMode,
        drop_name: bool,
        pos: Pos,
    ) -> RangeOutcome {
        let (floats, hists): (&[FPoint], &[HPoint]) = (&s.points, &s.hpoints);
        if hists.is_empty() {
            return RangeOutcome::FloatsOnly;
        }
        let name = c.func.as_str();
        let metric = s.labels.metric_name().unwrap_or("");
        let float_elem = |f: f64| Elem {
            labels: Arc::clone(&s.labels),
            f,
            h: None,
            drop_name,
        };
        let hist_elem = |h: FloatHistogram| Elem {
            labels: Arc::clone(&s.labels),
            f: 0.0,
            h: Some(Arc::new(h)),
            drop_name,
        };
        if float_only(name) {
            if !floats.is_empty() {
                self.info(notes::ignored_in_mixed_range(metric), pos);
                return RangeOutcome::FloatsOnly;
            }
            return RangeOutcome::Done(None);
        }
        let mixed = !floats.is_empty();
        let out = match name {
            "count_over_time" => Some(float_elem((floats.len() + hists.len()) as f64)),
            "present_over_time" => Some(float_elem(1.0)),
            "last_over_time"
            | "first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time" => {
                let last = name.contains("last");
                let (ft, ht) = if last {
                    (floats.last().map(|p| p.t), hists.last().map(|p| p.t))
                } else {
                    (floats.first().map(|p| p.t), hists.first().map(|p| p.t))
                };
                let hist_wins = match (ft, ht) {
                    (Some(f), Some(h)) => (h > f) == last,
                    _ => true,
                };
                let (t, value) = if hist_wins {
                    let p = if last { hists.last() } else { hists.first() };
                    let p = p.expect("histograms are not empty");
                    (p.t, Err((*p.h).clone()))
                } else {
                    let p = if last { floats.last() } else { floats.first() };
                    let p = p.expect("floats are not empty");
                    (p.t, Ok(p.f))
                };
                if name.starts_with("ts_of") {
                    Some(float_elem(t as f64 / 1000.0))
                } else {
                    Some(match value {
                        Ok(f) => float_elem(f),
                        Err(h) => hist_elem(h),
                    })
                }
            }
            "sum_over_time" | "avg_over_time" => {
                if mixed {
                    self.warn(notes::mixed_floats_histograms(metric), pos);
                    return RangeOutcome::Done(None);
                }
                let acc = if name == "avg_over_time" {
                    let all: Vec<&FloatHistogram> = hists.iter().map(|p| &*p.h).collect();
                    crate::functions::native_histogram::mean(&all)
                } else {
                    let mut acc = HistogramSum::default();
                    for p in hists {
                        acc.add(&p.h);
                    }
                    acc
                };
                self.report_sum(&acc, metric, pos);
                acc.result().map(hist_elem)
            }
            "rate" | "increase" | "delta" => {
                if mixed {
                    self.warn(notes::mixed_floats_histograms(metric), pos);
                    return RangeOutcome::Done(None);
                }
                let kind = match name {
                    "rate" => Kind::Rate,
                    "increase" => Kind::Increase,
                    _ => Kind::Delta,
                };
                let mut found = Vec::new();
                let h = match mode {
                    RangeMode::Plain => counter::extrapolated(
                        hists,
                        s.hstart_timestamps,
                        range_start,
                        range_end,
                        kind,
                        &mut found,
                    ),
                    RangeMode::Anchored | RangeMode::Smoothed => counter::extended(
                        hists,
                        range_start,
                        range_end,
                        mode == RangeMode::Smoothed,
                        kind,
                        &mut found,
                    ),
                };
                self.report_rate_notes(&found, metric, pos);
                h.map(hist_elem)
            }
            "irate" | "idelta" => {
                let per_second = name == "irate";
                let last_two = last_two_samples(floats, hists);
                match last_two {
                    LastTwo::Histograms(a, b) => {
                        let mut found = Vec::new();
                        let st_reset =
                            counter::st_reset(s.hstart_timestamps, hists, hists.len() - 1);
                        let h = counter::instant(a, b, st_reset, per_second, &mut found);
                        self.report_rate_notes(&found, metric, pos);
                        h.map(hist_elem)
                    }
                    LastTwo::Mixed => {
                        self.warn(notes::mixed_floats_histograms(metric), pos);
                        None
                    }
                    LastTwo::Floats | LastTwo::TooFew => return RangeOutcome::FloatsOnly,
                }
            }
            "resets" | "changes" => Some(float_elem(count_transitions(
                floats,
                hists,
                s.hstart_timestamps,
                name == "resets",
            ))),
            _ => None,
        };
        RangeOutcome::Done(out)
    }

    /// Annotations about a histogram sum.
    pub(super) fn report_sum(&self, acc: &HistogramSum, metric: &str, pos: Pos) {
        if acc.incompatible {
            self.warn(notes::mixed_exponential_custom(metric), pos);
        }
        if acc.counter_reset_collision {
            self.warn(notes::counter_reset_collision(Operation::Aggregation), pos);
        }
        if acc.custom_buckets_reconciled {
            self.info(
                notes::custom_buckets_reconciled(Operation::Aggregation),
                pos,
            );
        }
    }

    fn report_rate_notes(&self, found: &[Note], metric: &str, pos: Pos) {
        for n in found {
            match n {
                Note::MixedExponentialCustom => {
                    self.warn(notes::mixed_exponential_custom(metric), pos)
                }
                Note::NotCounter => self.warn(notes::not_counter(metric), pos),
                Note::NotGauge => self.warn(notes::not_gauge(metric), pos),
                Note::CustomBucketsReconciled => self.info(
                    notes::custom_buckets_reconciled(Operation::Subtraction),
                    pos,
                ),
            }
        }
    }

    /// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
    /// `histogram_stdvar`: one float per histogram sample; float samples are skipped.
    pub(super) fn histogram_stat(&self, name: &str, v: Vec<Elem>) -> Vec<Elem> {
        v.into_iter()
            .filter_map(|e| {
                let h = e.h.as_ref()?;
                let f = match name {
                    "histogram_count" => h.count,
                    "histogram_sum" => h.sum,
                    "histogram_avg" => h.sum / h.count,
                    "histogram_stddev" => stats::variance(h).sqrt(),
                    _ => stats::variance(h),
                };
                Some(Elem {
                    f,
                    h: None,
                    drop_name: true,
                    ..e
                })
            })
            .collect()
    }

    /// `histogram_quantile(q, v)` for the native histograms of `v`.
    pub(super) fn native_quantile(&self, q: f64, e: &Elem, h: &FloatHistogram, pos: Pos) -> f64 {
        let (f, effect) = stats::quantile(q, h);
        let metric = e.labels.metric_name();
        match effect {
            stats::NanEffect::None => {}
            stats::NanEffect::ResultIsNaN => self.info(notes::quantile_nan_result(metric), pos),
            stats::NanEffect::SkewedHigher => self.info(notes::quantile_nan_skew(metric), pos),
        }
        f
    }

    /// `histogram_fraction(lower, upper, v)` for one native histogram.
    pub(super) fn native_fraction(
        &self,
        lower: f64,
        upper: f64,
        e: &Elem,
        h: &FloatHistogram,
        pos: Pos,
    ) -> f64 {
        let (f, nans) = stats::fraction(lower, upper, h);
        if nans {
            self.info(notes::fraction_nans(e.labels.metric_name()), pos);
        }
        f
    }
}

enum LastTwo<'a> {
    TooFew,
    Floats,
    Histograms(&'a HPoint, &'a HPoint),
    Mixed,
}

/// The kinds of the two newest samples of a window.
fn last_two_samples<'a>(floats: &[FPoint], hists: &'a [HPoint]) -> LastTwo<'a> {
    if floats.len() + hists.len() < 2 {
        return LastTwo::TooFew;
    }
    let newest_hists = hists.len().min(2);
    let mut ft = floats.iter().rev().map(|p| p.t);
    let (f1, f2) = (ft.next(), ft.next());
    let h = &hists[hists.len() - newest_hists..];
    // Count how many of the two newest samples are histograms.
    let mut times: Vec<(i64, bool)> = h.iter().map(|p| (p.t, true)).collect();
    times.extend(f1.into_iter().chain(f2).map(|t| (t, false)));
    times.sort_by_key(|&(t, _)| std::cmp::Reverse(t));
    match (times[0].1, times[1].1) {
        (true, true) => LastTwo::Histograms(&hists[hists.len() - 2], &hists[hists.len() - 1]),
        (false, false) => LastTwo::Floats,
        _ => LastTwo::Mixed,
    }
}

/// `resets` or `changes` over floats and histograms merged in time order; a
/// switch between a float and a histogram counts as both.
fn count_transitions(floats: &[FPoint], hists: &[HPoint], hist_sts: &[i64], resets: bool) -> f64 {
    enum S<'a> {
        F(f64),
        /// A histogram and its index in `hists`.
        H(&'a FloatHistogram, usize),
    }
    let mut all: Vec<(i64, S<'_>)> = floats.iter().map(|p| (p.t, S::F(p.f))).collect();
    all.extend(hists.iter().enumerate().map(|(i, p)| (p.t, S::H(&p.h, i))));
    all.sort_by_key(|(t, _)| *t);
    let mut n = 0.0;
    for w in all.windows(2) {
        let hit = match (&w[0].1, &w[1].1) {
            (S::F(a), S::F(b)) => {
                if resets {
                    b < a
                } else {
                    !(a == b || (a.is_nan() && b.is_nan()))
                }
            }
            (S::H(a, _), S::H(b, j)) => {
                if resets {
                    counter::detect_reset(b, a) || counter::st_reset(hist_sts, hists, *j)
                } else {
                    !crate::functions::native_histogram::arith::equal(a, b)
                }
            }
            _ => true,
        };
        if hit {
            n += 1.0;
        }
    }
    n
}
