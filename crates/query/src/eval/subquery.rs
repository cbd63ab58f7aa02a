//! Subqueries: `expr[range:step]` evaluates `expr` at step-aligned timestamps
//! inside the window and presents the results as a range vector.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use tidemark_model::{CounterResetHint, FloatHistogram};

use super::{Elem, Evaluator, Matrix, RangeElem, StepValue};
use crate::ast::{RangeMode, Subquery};
use crate::value::{FPoint, HPoint, QueryError};

/// Subquery steps may skip or repeat samples, so what the producer said about
/// resets relative to *its* previous sample no longer applies: counter
/// histograms get an unknown hint and resets are detected by comparison.
fn without_reset_claim(h: &Arc<FloatHistogram>) -> Arc<FloatHistogram> {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset | CounterResetHint::NotCounterReset => {
            Arc::new(FloatHistogram {
                counter_reset_hint: CounterResetHint::Unknown,
                ..(**h).clone()
            })
        }
        CounterResetHint::Unknown | CounterResetHint::Gauge => h.clone(),
    }
}

impl Evaluator<'_> {
    pub(crate) fn subquery<'e>(&'e self, sq: &Subquery, t: i64) -> Result<Matrix<'e>, QueryError> {
        let base = sq.at.as_ref().map_or(t, |a| self.at_time(a));
        let offset = match &sq.offset {
            Some(o) => self.duration_ms(o)?,
            None => 0,
        };
        let range = self.duration_ms(&sq.range)?;
        let step = match &sq.step {
            Some(s) => self.duration_ms(s)?,
            None => self.opts.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(QueryError::BadData(format!(
                "zero or negative subquery step: {step}ms"
            )));
        }
        if range / step > self.opts.max_samples as i64 {
            // Every inner step holds at least one sample per series.
            return Err(super::too_many_samples());
        }
        let range_end = base - offset;
        let range_start = range_end - range;
        // First step-aligned timestamp after the (left-open) window start, with Go's
        // truncating division as in Prometheus.
        let mut ts = step * (range_start / step);
        if ts <= range_start {
            ts += step;
        }
        let mut order: Vec<(Arc<tidemark_model::Labels>, bool)> = Vec::new();
        type Points = (Vec<FPoint>, Vec<HPoint>);
        let mut points: HashMap<(Arc<tidemark_model::Labels>, bool), Points> = HashMap::new();
        while ts <= range_end {
            self.check_alive()?;
            for e in self.subquery_step(sq, ts)?.iter() {
                let key = (e.labels.clone(), e.drop_name);
                let entry = points.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    Points::default()
                });
                match &e.h {
                    Some(h) => entry.1.push(HPoint {
                        t: ts,
                        h: without_reset_claim(h),
                    }),
                    None => entry.0.push(FPoint { t: ts, f: e.f }),
                }
            }
            ts += step;
        }
        let series = order
            .into_iter()
            .map(|key| {
                let (pts, hpts) = points.remove(&key).unwrap_or_default();
                RangeElem {
                    labels: Cow::Owned(key.0),
                    points: Cow::Owned(pts),
                    start_timestamps: &[],
                    hstart_timestamps: &[],
                    hpoints: Cow::Owned(hpts),
                    drop_name: key.1,
                }
            })
            .collect();
        Ok(Matrix {
            series,
            range_start,
            range_end,
            mode: RangeMode::Plain,
        })
    }

    /// The inner expression's result at `ts`, memoised across outer steps.
    fn subquery_step(&self, sq: &Subquery, ts: i64) -> Result<Arc<Vec<Elem>>, QueryError> {
        if let Some(hit) = self
            .subquery_cache
            .lock()
            .expect("subquery cache lock")
            .get(&(sq.id, ts))
        {
            return Ok(hit.clone());
        }
        let v = match self.eval(&sq.expr, ts)? {
            StepValue::Vector(v) => v,
            StepValue::Scalar(f) => vec![Elem {
                h: None,
                labels: Arc::new(tidemark_model::Labels::empty()),
                f,
                drop_name: false,
            }],
            other => {
                return Err(QueryError::BadData(format!(
                    "subquery is only allowed on instant vector, got {} instead",
                    other.type_name()
                )))
            }
        };
        let v = Arc::new(v);
        self.subquery_cache
            .lock()
            .expect("subquery cache lock")
            .insert((sq.id, ts), v.clone());
        Ok(v)
    }
}
