//! The evaluator: walks the AST once per evaluation timestamp.
//!
//! All selector data is fetched from the [`Queryable`] up front (one `select` per
//! selector node, covering every step), so stepping is pure in-memory work and the
//! steps of a range query can run in parallel. Subquery inner results are cached
//! per (subquery, timestamp) because consecutive outer steps share most of them.

mod aggregate;
mod binary;
mod calls;
mod histogram_binop;
mod info;
mod labels_util;
mod native_calls;
mod point_search;
mod range_result;
mod selectors;
mod series_keys;
mod series_major;
mod series_major_binary;
#[cfg(test)]
mod series_major_tests;
#[cfg(test)]
mod sliding_tests;
#[cfg(test)]
mod start_timestamp_tests;
mod stats_decoding;
mod streamed_aggregate;
mod subquery;
#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rayon::prelude::*;
use tidemark_model::{FloatHistogram, Labels};

use crate::ast::{AtModifier, DurationExpr, DurationOp, Expr, Pos, RangeMode};
use crate::engine::{EngineOptions, QueryContext};
use crate::value::{FPoint, HPoint, InstantSample, QueryError, QueryResult, RangeSeries, Value};
use crate::Queryable;

pub(crate) use selectors::SeriesData;

/// One element of an instant vector during evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub labels: Arc<Labels>,
    /// The float value; meaningless when `h` is set.
    pub f: f64,
    /// A native histogram sample instead of a float.
    pub h: Option<Arc<FloatHistogram>>,
    /// Delayed `__name__` removal (Prometheus 3.x): the name stays for matching and
    /// grouping and is removed when the result leaves the engine.
    pub drop_name: bool,
}

/// One series of a range vector for one evaluation step.
#[derive(Debug, Clone)]
pub(crate) struct RangeElem<'e> {
    /// Borrowed from the selected series where possible: cloning the `Arc` for
    /// every window costs two contended atomic operations per series and step.
    pub labels: Cow<'e, Arc<Labels>>,
    pub points: Cow<'e, [FPoint]>,
    /// Start timestamps of `points`, index for index, or empty when unknown (always
    /// for computed series: subqueries cut them off, as in Prometheus).
    pub start_timestamps: &'e [i64],
    /// Start timestamps parallel to `hpoints`, or empty when unknown.
    pub hstart_timestamps: &'e [i64],
    /// Native histogram points, apart from the floats (a series may hold both).
    pub hpoints: Cow<'e, [HPoint]>,
    pub drop_name: bool,
}

/// A range vector for one step: its series and the window they were cut from.
#[derive(Debug, Clone)]
pub(crate) struct Matrix<'e> {
    pub series: Vec<RangeElem<'e>>,
    /// Exclusive window start.
    pub range_start: i64,
    /// Inclusive window end.
    pub range_end: i64,
    pub mode: RangeMode,
}

/// The value of an expression at one evaluation timestamp.
#[derive(Debug, Clone)]
pub(crate) enum StepValue<'e> {
    Scalar(f64),
    String(String),
    Vector(Vec<Elem>),
    Matrix(Matrix<'e>),
}

impl StepValue<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            StepValue::Scalar(_) => "scalar",
            StepValue::String(_) => "string",
            StepValue::Vector(_) => "instant vector",
            StepValue::Matrix(_) => "range vector",
        }
    }
}

/// The inner result of a subquery at one timestamp, shared across outer steps.
type SubqueryStep = Arc<Vec<Elem>>;

/// Warnings and infos collected while evaluating (deduplicated, sorted).
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    pub warnings: BTreeSet<String>,
    pub infos: BTreeSet<String>,
}

pub(crate) struct Evaluator<'a> {
    opts: &'a EngineOptions,
    ctx: &'a QueryContext,
    deadline: Instant,
    /// Query start/end/step; `step == 0` for instant queries.
    start: i64,
    end: i64,
    step: i64,
    /// Prefetched series per selector node id.
    data: HashMap<usize, Vec<SeriesData>>,
    /// Samples fetched so far, against [`EngineOptions::max_samples`].
    loaded_samples: AtomicUsize,
    /// Fused aggregations evaluated from streamed series, by node id: their
    /// selectors have no `data` (see [`streamed_aggregate`]).
    streamed: HashMap<usize, streamed_aggregate::StreamedSteps>,
    /// Inner results of subqueries by (subquery node id, timestamp).
    subquery_cache: Mutex<HashMap<(usize, i64), SubqueryStep>>,
    notes: Mutex<Annotations>,
    /// Grouping/matching key ids per series, computed once per query.
    series_keys: series_keys::SeriesKeys,
    /// One-to-one vector matching output labels per input series.
    match_labels: series_keys::DerivedLabels,
    /// Leaf vectors of the range query steps being evaluated, computed series by
    /// series (see [`series_major`]).
    block: RwLock<series_major::StepBlock>,
}

impl<'a> Evaluator<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        q: &'a dyn Queryable,
        opts: &'a EngineOptions,
        ctx: &'a QueryContext,
        deadline: Instant,
        start: i64,
        end: i64,
        step: i64,
        ast: &Expr,
    ) -> Result<Evaluator<'a>, QueryError> {
        let mut ev = Evaluator {
            opts,
            ctx,
            deadline,
            start,
            end,
            step,
            data: HashMap::new(),
            loaded_samples: AtomicUsize::new(0),
            streamed: HashMap::new(),
            subquery_cache: Mutex::new(HashMap::new()),
            notes: Mutex::new(Annotations::default()),
            series_keys: Default::default(),
            match_labels: Default::default(),
            block: Default::default(),
        };
        // Range queries stream the series of fused aggregations instead.
        let streamable: Vec<usize> = if step > 0 {
            series_major::fused_aggregates(ast)
                .into_iter()
                .map(|(_, _, selector)| selector)
                .collect()
        } else {
            Vec::new()
        };
        let (data, deferred) = selectors::prefetch(&ev, q, ast, &streamable)?;
        ev.data = data;
        ev.load_deferred(q, ast, deferred)?;
        Ok(ev)
    }

    /// Counts `n` more fetched samples; fails past the query's sample limit.
    pub(crate) fn charge_samples(&self, n: usize) -> Result<(), QueryError> {
        let total = self.loaded_samples.fetch_add(n, Ordering::Relaxed);
        if total.saturating_add(n) > self.opts.max_samples {
            return Err(too_many_samples());
        }
        Ok(())
    }

    /// Fails when `pending` samples more than those counted exceed the limit.
    pub(crate) fn check_samples(&self, pending: usize) -> Result<(), QueryError> {
        let total = self.loaded_samples.load(Ordering::Relaxed);
        if total.saturating_add(pending) > self.opts.max_samples {
            return Err(too_many_samples());
        }
        Ok(())
    }

    /// The timestamps of a range query's steps.
    fn range_steps(&self) -> Vec<i64> {
        if self.step <= 0 {
            return vec![self.start];
        }
        (0..)
            .map(|i| self.start + i * self.step)
            .take_while(|t| *t <= self.end)
            .collect()
    }

    /// Fails when the query was canceled or ran past its deadline.
    pub(crate) fn check_alive(&self) -> Result<(), QueryError> {
        if self.ctx.cancel.load(Ordering::Relaxed) {
            return Err(QueryError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("query execution".into()));
        }
        Ok(())
    }

    /// Records a warning about the expression starting at `pos`.
    pub(crate) fn warn(&self, msg: String, pos: Pos) {
        let mut notes = self.notes.lock().expect("annotation lock");
        notes.warnings.insert(format!("{msg} ({pos})"));
    }

    /// Records an info annotation about the expression starting at `pos`.
    pub(crate) fn info(&self, msg: String, pos: Pos) {
        let mut notes = self.notes.lock().expect("annotation lock");
        notes.infos.insert(format!("{msg} ({pos})"));
    }

    /// Resolves a duration expression to milliseconds.
    pub(crate) fn duration_ms(&self, d: &DurationExpr) -> Result<i64, QueryError> {
        let secs = self.duration_secs(d)?;
        if !secs.is_finite() || secs.abs() > 9.2e15 {
            return Err(QueryError::BadData(format!(
                "duration out of range: {secs}s"
            )));
        }
        Ok((secs * 1000.0).round() as i64)
    }

    fn duration_secs(&self, d: &DurationExpr) -> Result<f64, QueryError> {
        Ok(match d {
            DurationExpr::Millis(ms) => *ms as f64 / 1000.0,
            DurationExpr::Seconds(s) => *s,
            DurationExpr::Step => self.step as f64 / 1000.0,
            DurationExpr::Range => (self.end - self.start) as f64 / 1000.0,
            DurationExpr::Neg(x) => -self.duration_secs(x)?,
            DurationExpr::MinOf(a, b) => self.duration_secs(a)?.min(self.duration_secs(b)?),
            DurationExpr::MaxOf(a, b) => self.duration_secs(a)?.max(self.duration_secs(b)?),
            DurationExpr::Binary(op, a, b) => {
                let (a, b) = (self.duration_secs(a)?, self.duration_secs(b)?);
                match op {
                    DurationOp::Add => a + b,
                    DurationOp::Sub => a - b,
                    DurationOp::Mul => a * b,
                    DurationOp::Div => {
                        if b == 0.0 {
                            return Err(QueryError::BadData(
                                "division by zero in duration expression".into(),
                            ));
                        }
                        a / b
                    }
                    DurationOp::Mod => {
                        if b == 0.0 {
                            return Err(QueryError::BadData(
                                "modulo by zero in duration expression".into(),
                            ));
                        }
                        a % b
                    }
                    DurationOp::Pow => a.powf(b),
                }
            }
        })
    }

    /// The timestamp an `@` modifier pins evaluation to.
    pub(crate) fn at_time(&self, at: &AtModifier) -> i64 {
        match at {
            AtModifier::Millis(t) => *t,
            AtModifier::Start => self.start,
            AtModifier::End => self.end,
        }
    }

    /// Evaluates `e` at timestamp `t`.
    pub(crate) fn eval<'e>(&'e self, e: &Expr, t: i64) -> Result<StepValue<'e>, QueryError> {
        match e {
            Expr::Number(v) => Ok(StepValue::Scalar(*v)),
            Expr::String(s) => Ok(StepValue::String(s.clone())),
            Expr::Paren(inner) => self.eval(inner, t),
            Expr::Neg(inner) => Ok(match self.eval(inner, t)? {
                StepValue::Scalar(v) => StepValue::Scalar(-v),
                StepValue::Vector(v) => StepValue::Vector(
                    v.into_iter().map(negate).collect(),
                ),
                other => {
                    return Err(QueryError::BadData(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        other.type_name()
                    )))
                }
            }),
            Expr::VectorSelector(vs) => {
                if let Some(v) = self.precomputed(e, t) {
                    return Ok(StepValue::Vector(v));
                }
                Ok(StepValue::Vector(self.vector_selector(vs, t)?))
            }
            Expr::MatrixSelector(ms) => Ok(StepValue::Matrix(self.matrix_selector(ms, t)?)),
            Expr::Subquery(sq) => Ok(StepValue::Matrix(self.subquery(sq, t)?)),
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => {
                if let Some(v) = self.precomputed(e, t) {
                    return Ok(StepValue::Vector(v));
                }
                self.aggregate(a, t)
            }
            Expr::Call(c) => {
                if let Some(v) = self.precomputed(e, t) {
                    return Ok(StepValue::Vector(v));
                }
                self.call(c, t)
            }
        }
    }

    /// The vector of `node` at step `t` if the current block precomputed it.
    fn precomputed(&self, node: &Expr, t: i64) -> Option<Vec<Elem>> {
        self.block.read().expect("step block lock").take(node, t)
    }

    /// Evaluates `e` expecting an instant vector.
    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<Elem>, QueryError> {
        match self.eval(e, t)? {
            StepValue::Vector(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    fn take_annotations(&self, value: Value) -> QueryResult {
        let notes = std::mem::take(&mut *self.notes.lock().expect("annotation lock"));
        QueryResult {
            value,
            warnings: notes.warnings.into_iter().collect(),
            infos: notes.infos.into_iter().collect(),
        }
    }

    pub(crate) fn run_instant(&self, ast: &Expr) -> Result<QueryResult, QueryError> {
        self.check_alive()?;
        let t = self.start;
        let value = match self.eval(ast, t)? {
            StepValue::Scalar(v) => Value::Scalar { t, v },
            StepValue::String(v) => Value::String { t, v },
            StepValue::Vector(v) => Value::Vector(finalize_vector(v, t)?),
            StepValue::Matrix(m) => {
                let mut out = Vec::with_capacity(m.series.len());
                let mut seen = BTreeSet::new();
                for s in m.series {
                    let labels = final_labels(&s.labels, s.drop_name);
                    if !seen.insert(labels.clone()) {
                        return Err(duplicate_labelset());
                    }
                    out.push(RangeSeries {
                        labels,
                        floats: s.points.into_owned(),
                        histograms: s.hpoints.into_owned(),
                    });
                }
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        };
        Ok(self.take_annotations(value))
    }

    pub(crate) fn run_range(&self, ast: &Expr) -> Result<QueryResult, QueryError> {
        let steps = self.range_steps();
        let mut results: Vec<Result<StepValue<'_>, QueryError>> = Vec::with_capacity(steps.len());
        for block in steps.chunks(series_major::STEPS_PER_BLOCK) {
            *self.block.write().expect("step block lock") = self.precompute_block(ast, block)?;
            let eval_step = |&t: &i64| {
                self.check_alive()?;
                self.eval(ast, t)
            };
            // The first step tells what a step costs: when the whole block is
            // cheaper than waking other threads, it stays on this one.
            let started = Instant::now();
            results.push(eval_step(&block[0]));
            let rest = &block[1..];
            if started.elapsed() * rest.len() as u32 <= SEQUENTIAL_BLOCK_BUDGET {
                // So cheap that the first step's check covers the block: reading the
                // clock at every step was a tenth of a one-series query's time.
                results.extend(rest.iter().map(|&t| self.eval(ast, t)));
            } else {
                results.par_extend(rest.par_iter().map(eval_step));
            }
        }
        *self.block.write().expect("step block lock") = Default::default();
        let mut collector = range_result::RangeCollector::new(self.opts.max_samples);
        for (step_no, (t, r)) in steps.iter().copied().zip(results).enumerate() {
            match r? {
                StepValue::Scalar(v) => collector.push_scalar(step_no, t, v)?,
                StepValue::Vector(v) => collector.push_vector(step_no, t, v)?,
                other => {
                    return Err(QueryError::BadData(format!(
                        "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                        other.type_name()
                    )))
                }
            }
        }
        let out = collector.finish();
        let value = Value::Matrix(out);
        Ok(self.take_annotations(value))
    }
}

/// Unary minus: floats are negated, histograms scaled by -1.
fn negate(e: Elem) -> Elem {
    let h =
        e.h.map(|h| Arc::new(crate::functions::native_histogram::scale(&h, -1.0)));
    Elem {
        f: -e.f,
        h,
        drop_name: true,
        ..e
    }
}

/// The longest a block of steps may take to stay on one thread (see `run_range`).
const SEQUENTIAL_BLOCK_BUDGET: std::time::Duration = std::time::Duration::from_micros(200);

pub(crate) fn too_many_samples() -> QueryError {
    QueryError::Execution(
        "query processing would load too many samples into memory in query execution".into(),
    )
}

fn duplicate_labelset() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// The labels a flagged element leaves the engine with: without `__name__` and the
/// `__type__`/`__unit__` labels that describe the named metric (3.x type-and-unit labels).
fn final_labels(labels: &Labels, drop_name: bool) -> Labels {
    if drop_name && labels.iter().any(|l| is_metric_identity_label(&l.name)) {
        Labels::from_vec(
            labels
                .iter()
                .filter(|l| !is_metric_identity_label(&l.name))
                .cloned()
                .collect(),
        )
    } else {
        labels.clone()
    }
}

fn is_metric_identity_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

/// [`final_labels`] without copying when nothing is removed.
fn final_labels_arc(e: &Elem) -> Arc<Labels> {
    if e.drop_name && e.labels.iter().any(|l| is_metric_identity_label(&l.name)) {
        Arc::new(final_labels(&e.labels, true))
    } else {
        e.labels.clone()
    }
}

/// Applies delayed name removal and rejects duplicate label sets, as Prometheus
/// does when a vector leaves the engine.
fn finalize_vector(v: Vec<Elem>, t: i64) -> Result<Vec<InstantSample>, QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let labels = final_labels(&e.labels, e.drop_name);
        if !seen.insert(labels.clone()) {
            return Err(duplicate_labelset());
        }
        out.push(InstantSample {
            labels,
            t,
            f: e.f,
            h: e.h,
        });
    }
    Ok(out)
}
