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
