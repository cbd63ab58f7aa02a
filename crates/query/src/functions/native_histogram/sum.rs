//! Compensated (Kahan-Neumaier) summation of native histograms, for `sum`,
//! `avg`, `sum_over_time` and `avg_over_time`: every field and bucket keeps its
//! own compensation term, carried through schema reduction and zero-bucket
//! widening together with the running sum.

use tidemark_model::{CounterResetHint, FloatHistogram};

use super::arith::{merge_hints, rebucket_custom, Layout};
use super::buckets::{exponential_upper, from_map, uses_custom_buckets, BucketMap};
use crate::functions::kahan::kahan_inc;

/// Running sum of histograms that remembers what Prometheus would report.
#[derive(Debug, Default)]
pub(crate) struct HistogramSum {
    acc: Option<Accumulator>,
    pub counter_reset_collision: bool,
    pub custom_buckets_reconciled: bool,
    /// Exponential and custom buckets met: there is no meaningful sum.
    pub incompatible: bool,
    /// Inputs claimed a counter reset / claimed none (a conflict even when a
    /// gauge among the inputs decides the result's hint).
    saw_reset: bool,
    saw_not_reset: bool,
}

#[derive(Debug)]
struct Accumulator {
    /// Hint, schema and custom bounds of the sum so far.
    base: FloatHistogram,
    sum: Layout,
    comp: Layout,
    count: (f64, f64),
    total: (f64, f64),
}

impl HistogramSum {
    pub(crate) fn add(&mut self, h: &FloatHistogram) {
        if self.incompatible {
            return;
        }
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.saw_reset = true,
            CounterResetHint::NotCounterReset => self.saw_not_reset = true,
            CounterResetHint::Unknown | CounterResetHint::Gauge => {}
        }
        self.counter_reset_collision |= self.saw_reset && self.saw_not_reset;
        let Some(acc) = &mut self.acc else {
            let mut comp = Layout::of(&FloatHistogram::default());
            comp.schema = h.schema;
            comp.zero_threshold = h.zero_threshold;
            self.acc = Some(Accumulator {
                base: h.clone(),
                sum: Layout::of(h),
                comp,
                count: (h.count, 0.0),
                total: (h.sum, 0.0),
            });
            return;
        };
        if uses_custom_buckets(&acc.base) != uses_custom_buckets(h) {
            self.incompatible = true;
            self.acc = None;
            return;
        }
        let (hint, collision) = merge_hints(acc.base.counter_reset_hint, h.counter_reset_hint);
        acc.base.counter_reset_hint = hint;
        self.counter_reset_collision |= collision;
        let mut lh = Layout::of(h);
        if uses_custom_buckets(h) {
            if acc.base.custom_values != h.custom_values {
                self.custom_buckets_reconciled = true;
                let common: Vec<f64> = acc
                    .base
                    .custom_values
                    .iter()
                    .copied()
                    .filter(|b| h.custom_values.contains(b))
                    .collect();
                let from = acc.base.custom_values.clone();
                remap_custom(&mut acc.sum.positive, &from, &common);
                remap_custom(&mut acc.comp.positive, &from, &common);
                remap_custom(&mut lh.positive, &h.custom_values, &common);
                acc.base.custom_values = common;
            }
        } else {
            let schema = acc.sum.schema.min(lh.schema);
            acc.sum.reduce_to(schema);
            acc.comp.reduce_to(schema);
            lh.reduce_to(schema);
            for _ in 0..64 {
                if acc.sum.zero_threshold == lh.zero_threshold {
                    break;
                }
                let t = acc.sum.zero_threshold.max(lh.zero_threshold);
                acc.sum.widen_zero_bucket(t);
                lh.widen_zero_bucket(t);
            }
            absorb_into_zero(&mut acc.comp, acc.sum.zero_threshold);
        }
        let (z, zc) = kahan_inc(lh.zero_count, acc.sum.zero_count, acc.comp.zero_count);
        acc.sum.zero_count = z;
        acc.comp.zero_count = zc;
        for (sum, comp, add) in [
            (&mut acc.sum.positive, &mut acc.comp.positive, &lh.positive),
            (&mut acc.sum.negative, &mut acc.comp.negative, &lh.negative),
        ] {
            for (&i, &c) in add {
                let s = sum.entry(i).or_insert(0.0);
                let k = comp.entry(i).or_insert(0.0);
                (*s, *k) = kahan_inc(c, *s, *k);
            }
        }
        acc.count = kahan_inc(h.count, acc.count.0, acc.count.1);
        acc.total = kahan_inc(h.sum, acc.total.0, acc.total.1);
    }

    /// The sum, or `None` when nothing was added or the inputs were incompatible.
    pub(crate) fn result(&self) -> Option<FloatHistogram> {
        let acc = self.acc.as_ref()?;
        let finish = |(s, c): (f64, f64)| if s.is_infinite() { s } else { s + c };
        let mut out = acc.sum.clone();
        out.zero_count = finish((acc.sum.zero_count, acc.comp.zero_count));
        for (side, comp) in [
            (&mut out.positive, &acc.comp.positive),
            (&mut out.negative, &acc.comp.negative),
        ] {
            for (i, v) in side.iter_mut() {
                *v = finish((*v, comp.get(i).copied().unwrap_or(0.0)));
            }
        }
        let (positive_spans, positive_buckets) = from_map(&out.positive);
        let (negative_spans, negative_buckets) = from_map(&out.negative);
        Some(FloatHistogram {
            schema: out.schema,
            zero_threshold: out.zero_threshold,
            zero_count: out.zero_count,
            count: finish(acc.count),
            sum: finish(acc.total),
            positive_spans,
            positive_buckets,
            negative_spans,
            negative_buckets,
            ..acc.base.clone()
        })
    }
}

/// The mean of `hists`: their compensated sum divided by their number, or, if
/// that sum overflows, the sum of each histogram divided first.
pub(crate) fn mean(hists: &[&FloatHistogram]) -> HistogramSum {
    let n = hists.len() as f64;
    let mut plain = HistogramSum::default();
    for h in hists {
        plain.add(h);
    }
    let overflowed = plain
        .result()
        .is_some_and(|s| s.count.is_infinite() && hists.iter().all(|h| h.count.is_finite()));
    if !overflowed {
        if let Some(s) = plain.result() {
            let mut out = HistogramSum {
                counter_reset_collision: plain.counter_reset_collision,
                custom_buckets_reconciled: plain.custom_buckets_reconciled,
                ..HistogramSum::default()
            };
            out.add(&super::arith::divide(&s, n));
            return out;
        }
        return plain;
    }
    let mut scaled = HistogramSum::default();
    for h in hists {
        scaled.add(&super::arith::divide(h, n));
    }
    scaled
}

/// Moves buckets below `threshold` into the zero bucket (compensation terms
/// follow the sum's zero bucket, whatever their own values).
fn absorb_into_zero(l: &mut Layout, threshold: f64) {
    let schema = l.schema;
    for side in [&mut l.positive, &mut l.negative] {
        let inside: Vec<i32> = side
            .keys()
            .copied()
            .filter(|&i| exponential_upper(schema, i - 1) < threshold)
            .collect();
        for i in inside {
            l.zero_count += side.remove(&i).unwrap_or(0.0);
        }
    }
    l.zero_threshold = threshold;
}

fn remap_custom(m: &mut BucketMap, from: &[f64], to: &[f64]) {
    let mut out = BucketMap::new();
    for (&i, &c) in m.iter() {
        *out.entry(rebucket_custom(from, to, i)).or_insert(0.0) += c;
    }
    *m = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sum(sum: f64) -> FloatHistogram {
        FloatHistogram {
            count: 1.0,
            sum,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn compensation_recovers_small_terms_next_to_huge_ones() {
        let mut s = HistogramSum::default();
        for v in [3.1, 1e100, -1e100, 1.3] {
            s.add(&with_sum(v));
        }
        let r = s.result().unwrap();
        assert!((r.sum - 4.4).abs() < 1e-12, "{}", r.sum);
        assert_eq!(r.count, 4.0);
    }

    #[test]
    fn mean_avoids_overflow() {
        let a = FloatHistogram {
            count: 1.7976931348623157e308,
            ..FloatHistogram::default()
        };
        let b = FloatHistogram {
            count: 1e308,
            ..FloatHistogram::default()
        };
        let m = mean(&[&a, &b]).result().unwrap();
        assert!(m.count.is_finite());
        let expected = 1.7976931348623157e308 / 2.0 + 1e308 / 2.0;
        assert!((m.count - expected).abs() / m.count < 1e-12);
    }
}
