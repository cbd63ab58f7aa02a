//! Selectors read only for histogram statistics.
//!
//! Under `histogram_count`, `histogram_sum` and `histogram_avg` Prometheus
//! decodes histograms without their buckets and re-derives every counter reset
//! hint on the fly: a sample is a `CounterReset` when it is a reset relative to
//! the previous sample read, otherwise `NotCounterReset`. Aggregating such
//! histograms can therefore report "conflicting counter resets" where reading
//! full histograms would not; native_histograms.test relies on it.

use std::collections::HashSet;
use std::sync::Arc;

use tidemark_model::{CounterResetHint, FloatHistogram};

use crate::ast::Expr;
use crate::functions::native_histogram::counter::detect_reset;
use crate::value::HPoint;

/// Ids of the selectors whose nearest enclosing histogram function is one of
/// the statistics functions. Binary operators start afresh on each side.
pub(super) fn stats_only_selectors(e: &Expr) -> HashSet<usize> {
    let mut out = HashSet::new();
    walk(e, false, &mut out);
    out
}

fn walk(e: &Expr, stats: bool, out: &mut HashSet<usize>) {
    match e {
        Expr::VectorSelector(vs) => {
            if stats {
                out.insert(vs.id);
            }
        }
        Expr::MatrixSelector(ms) => {
            if stats {
                out.insert(ms.vs.id);
            }
        }
        Expr::Call(c) => {
            let stats = match c.func.as_str() {
                "histogram_count" | "histogram_sum" | "histogram_avg" => true,
                "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => false,
                _ => stats,
            };
            for a in &c.args {
                walk(a, stats, out);
            }
        }
        Expr::Binary(b) => {
            walk(&b.lhs, false, out);
            walk(&b.rhs, false, out);
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, stats, out);
            if let Some(p) = &a.param {
                walk(p, stats, out);
            }
        }
        Expr::Subquery(sq) => walk(&sq.expr, stats, out),
        Expr::Paren(x) | Expr::Neg(x) => walk(x, stats, out),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// Re-derives the counter reset hints of one series' histograms the way the
/// statistics decoder does. Gauges keep their hint; the first histogram, and
/// one following a float sample, keep theirs too.
pub(super) fn rederive_hints(hpoints: &mut [HPoint], float_times: &[i64]) {
    for i in 1..hpoints.len() {
        let (before, rest) = hpoints.split_at_mut(i);
        let (prev, cur) = (&before[i - 1], &mut rest[0]);
        let float_between = float_times.iter().any(|&t| t > prev.t && t < cur.t);
        if float_between || cur.h.counter_reset_hint == CounterResetHint::Gauge {
            continue;
        }
        let hint = if detect_reset(&cur.h, &prev.h) {
            CounterResetHint::CounterReset
        } else {
            CounterResetHint::NotCounterReset
        };
        if hint != cur.h.counter_reset_hint {
            cur.h = Arc::new(FloatHistogram {
                counter_reset_hint: hint,
                ..(*cur.h).clone()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_query;

    fn selector_ids(e: &Expr, out: &mut Vec<usize>) {
        match e {
            Expr::VectorSelector(vs) => out.push(vs.id),
            Expr::MatrixSelector(ms) => out.push(ms.vs.id),
            Expr::Call(c) => c.args.iter().for_each(|a| selector_ids(a, out)),
            Expr::Aggregate(a) => selector_ids(&a.expr, out),
            Expr::Binary(b) => {
                selector_ids(&b.lhs, out);
                selector_ids(&b.rhs, out);
            }
            Expr::Paren(x) | Expr::Neg(x) => selector_ids(x, out),
            Expr::Subquery(sq) => selector_ids(&sq.expr, out),
            Expr::Number(_) | Expr::String(_) => {}
        }
    }

    #[test]
    fn nearest_histogram_function_decides() {
        let q =
            parse_query("histogram_count(sum(a)) + histogram_quantile(0.5, histogram_sum(sum_over_time(b[1m])))")
                .unwrap();
        let mut ids = Vec::new();
        selector_ids(&q, &mut ids);
        let stats = stats_only_selectors(&q);
        assert!(stats.contains(&ids[0]), "a is under histogram_count");
        assert!(
            stats.contains(&ids[1]),
            "b's nearest function is histogram_sum"
        );
        let q = parse_query("histogram_count(a - b)").unwrap();
        assert!(
            stats_only_selectors(&q).is_empty(),
            "binary operators start afresh"
        );
    }

    #[test]
    fn hints_follow_detected_resets() {
        let h = |t: i64, count: f64| HPoint {
            t,
            h: Arc::new(FloatHistogram {
                count,
                ..FloatHistogram::default()
            }),
        };
        let mut pts = vec![h(0, 5.0), h(10, 6.0), h(20, 2.0), h(30, 3.0)];
        rederive_hints(&mut pts, &[25]);
        let hints: Vec<CounterResetHint> = pts.iter().map(|p| p.h.counter_reset_hint).collect();
        use CounterResetHint::*;
        assert_eq!(hints, vec![Unknown, NotCounterReset, CounterReset, Unknown]);
    }
}
