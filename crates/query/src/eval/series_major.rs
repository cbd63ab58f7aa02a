//! Series-major evaluation of a range query's leaf nodes.
//!
//! The evaluator walks the expression once per step, so a selector cuts every
//! selected series at every step: each series' labels and points are fetched into
//! cache once per step, and for large selections those misses were most of the
//! query's time (profile of `avg by(instance)(rate(x[5m]))` over 8,800 series).
//!
//! The nodes whose value at a step depends on nothing but that step and one series
//! at a time — instant vector selectors, and range functions over a matrix
//! selector whose other arguments are number literals — are instead evaluated one
//! series at a time across a block of steps (in parallel over series), before the
//! steps themselves run. [`Evaluator::eval`] then takes each step's ready vector.
//! The per-series code is the same as the step-major path's, so results and
//! annotations are identical; a node that is not precomputed (or a step that finds
//! nothing here) simply takes the step-major path.

use std::sync::Mutex;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Elem, Evaluator};
use crate::ast::{Call, Expr, MatrixSelector, VectorSelector};
use crate::functions;
use crate::value::QueryError;

/// Steps evaluated per block: bounds the memory held by precomputed vectors.
pub(super) const STEPS_PER_BLOCK: usize = 64;

/// Fewest series per parallel task, so tiny selections stay on one thread.
const MIN_SERIES_PER_TASK: usize = 64;

/// The precomputed vectors of one block of steps.
#[derive(Default)]
pub(crate) struct StepBlock {
    /// Timestamp of the block's first step.
    first: i64,
    step: i64,
    len: usize,
    /// Per node (by address): per step, the vector in pieces (one per series
    /// chunk, in series order), taken by the step that evaluates the node.
    nodes: FxHashMap<usize, Vec<Mutex<Option<Vec<Vec<Elem>>>>>>,
}

impl StepBlock {
    /// The vector of `node` at `t`, if precomputed and not taken yet.
    pub(super) fn take(&self, node: &Expr, t: i64) -> Option<Vec<Elem>> {
        let slots = self.nodes.get(&node_id(node))?;
        if self.step <= 0 || t < self.first || (t - self.first) % self.step != 0 {
            return None;
        }
        let i = ((t - self.first) / self.step) as usize;
        if i >= self.len {
            return None;
        }
        let mut pieces = slots[i].lock().expect("step block lock").take()?;
        if pieces.len() == 1 {
            return pieces.pop();
        }
        let mut out = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
        for p in pieces {
            out.extend(p);
        }
        Some(out)
    }
}

fn node_id(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// A range function call this module can evaluate: a float kernel, one matrix
/// selector argument, number literals otherwise.
struct RangeCall<'x> {
    call: &'x Call,
    kernel: functions::RangeKernel,
    matrix: &'x MatrixSelector,
    matrix_arg: usize,
    scalars: Vec<f64>,
}

fn range_call(c: &Call) -> Option<RangeCall<'_>> {
    let kernel = functions::range_kernel(&c.func)?;
    let mut matrix = None;
    let mut scalars = Vec::new();
    for (i, a) in c.args.iter().enumerate() {
        match a.unparen() {
            Expr::MatrixSelector(ms) if matrix.is_none() => matrix = Some((i, ms)),
            Expr::Number(v) => scalars.push(*v),
            _ => return None,
        }
    }
    let (matrix_arg, matrix) = matrix?;
    Some(RangeCall {
        call: c,
        kernel,
        matrix,
        matrix_arg,
        scalars,
    })
}

/// The nodes of `e` evaluated at the query's own steps that can be precomputed.
fn collect<'x>(e: &'x Expr, out: &mut Vec<&'x Expr>) {
    match e {
        Expr::VectorSelector(_) => out.push(e),
        Expr::Call(c) if range_call(c).is_some() => out.push(e),
        // Evaluated at other times than the steps (subquery inner steps, info's
        // reference times) or read without `eval` (timestamp of a selector).
        Expr::Subquery(_) | Expr::MatrixSelector(_) => {}
        Expr::Call(c) if matches!(c.func.as_str(), "info" | "timestamp" | "start_timestamp") => {}
        Expr::Call(c) => c.args.iter().for_each(|a| collect(a, out)),
        Expr::Paren(x) | Expr::Neg(x) => collect(x, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Aggregate(a) => collect(&a.expr, out),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

impl Evaluator<'_> {
    /// Precomputes the eligible nodes of `ast` for `steps` (consecutive query steps).
    pub(super) fn precompute_block(
        &self,
        ast: &Expr,
        steps: &[i64],
    ) -> Result<StepBlock, QueryError> {
        let mut block = StepBlock {
            first: steps.first().copied().unwrap_or(0),
            step: self.step,
            len: steps.len(),
            nodes: FxHashMap::default(),
        };
        let mut nodes = Vec::new();
        collect(ast, &mut nodes);
        for node in nodes {
            self.check_alive()?;
            let pieces = match node {
                Expr::VectorSelector(vs) => self.selector_pieces(vs, steps),
                Expr::Call(c) => match range_call(c) {
                    Some(rc) => self.range_call_pieces(&rc, steps),
                    None => continue,
                },
                _ => continue,
            };
            // An error is left for the step-major path to report as it always has.
            let Ok(per_step) = pieces else { continue };
            let slots = per_step.into_iter().map(|p| Mutex::new(Some(p))).collect();
            block.nodes.insert(node_id(node), slots);
        }
        Ok(block)
    }

    /// Instant selector `vs` at each of `steps`, in pieces of series.
    fn selector_pieces(
        &self,
        vs: &VectorSelector,
        steps: &[i64],
    ) -> Result<Vec<Vec<Vec<Elem>>>, QueryError> {
        let ref_times: Vec<i64> = steps
            .iter()
            .map(|&t| self.selector_time(vs, t))
            .collect::<Result<_, _>>()?;
        let series = self.series_of(vs.id);
        let chunks = for_each_chunk(series, steps.len(), |chunk, per_step| {
            for s in chunk {
                for (i, &ref_t) in ref_times.iter().enumerate() {
                    if let Some((e, _)) = self.sample_at(vs, s, ref_t) {
                        per_step[i].push(e);
                    }
                }
            }
            Ok(())
        })?;
        Ok(transpose(chunks, steps.len()))
    }

    /// Range function call `rc` at each of `steps`, in pieces of series.
    fn range_call_pieces(
        &self,
        rc: &RangeCall<'_>,
        steps: &[i64],
    ) -> Result<Vec<Vec<Vec<Elem>>>, QueryError> {
        let c = rc.call;
        let ms = rc.matrix;
        super::calls::check_range_mode(&c.func, ms.mode)?;
        if c.func == "quantile_over_time" {
            if let Some(w) = rc
                .scalars
                .first()
                .and_then(|q| functions::annotations::invalid_quantile_warning(*q))
            {
                self.warn(w, super::calls::arg_pos(c, 0));
            }
        }
        let range = self.duration_ms(&ms.range)?;
        let ref_times: Vec<i64> = steps
            .iter()
            .map(|&t| self.selector_time(&ms.vs, t))
            .collect::<Result<_, _>>()?;
        let pos = super::calls::arg_pos(c, rc.matrix_arg);
        let series = self.series_of(ms.vs.id);
        let chunks = for_each_chunk(series, steps.len(), |chunk, per_step| {
            for s in chunk {
                for (i, (&t, &ref_t)) in steps.iter().zip(&ref_times).enumerate() {
                    let range_start = ref_t - range;
                    let Some(w) = self.series_window(s, ms.mode, range_start, ref_t) else {
                        continue;
                    };
                    let window = (range_start, ref_t, ms.mode);
                    if let Some(e) =
                        self.range_call_series(c, rc.kernel, &w, window, t, &rc.scalars, pos)?
                    {
                        per_step[i].push(e);
                    }
                }
            }
            Ok(())
        })?;
        Ok(transpose(chunks, steps.len()))
    }
}

/// Runs `f` over chunks of `series` (in parallel when there are enough), each
/// filling one vector per step; returns the chunks' outputs in series order.
fn for_each_chunk<S: Sync>(
    series: &[S],
    steps: usize,
    f: impl Fn(&[S], &mut [Vec<Elem>]) -> Result<(), QueryError> + Sync,
) -> Result<Vec<Vec<Vec<Elem>>>, QueryError> {
    let tasks = rayon::current_num_threads().max(1) * 4;
    let chunk = series.len().div_ceil(tasks).max(MIN_SERIES_PER_TASK);
    let run = |chunk: &[S]| {
        let mut per_step: Vec<Vec<Elem>> = (0..steps)
            .map(|_| Vec::with_capacity(chunk.len()))
            .collect();
        f(chunk, &mut per_step)?;
        Ok(per_step)
    };
    if series.len() <= chunk {
        return Ok(vec![run(series)?]);
    }
    series.par_chunks(chunk).map(run).collect()
}

/// `[chunk][step]` to `[step][chunk]`, moving the vectors.
fn transpose(chunks: Vec<Vec<Vec<Elem>>>, steps: usize) -> Vec<Vec<Vec<Elem>>> {
    let mut out: Vec<Vec<Vec<Elem>>> = (0..steps)
        .map(|_| Vec::with_capacity(chunks.len()))
        .collect();
    for per_step in chunks {
        for (i, v) in per_step.into_iter().enumerate() {
            out[i].push(v);
        }
    }
    out
}
