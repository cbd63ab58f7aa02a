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
//! A streaming aggregation (`sum`, `avg`, …) directly over such a leaf is folded
//! from the leaf's values without building the leaf's vectors at all.
//! The per-series code is the same as the step-major path's, so results and
//! annotations are identical; a node that is not precomputed (or a step that finds
//! nothing here) simply takes the step-major path.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use tidemark_model::Labels;

use super::point_search::{count_at_or_before, count_at_or_before_from};
use super::{aggregate, series_major_binary, Elem, Evaluator, SeriesData};
use crate::ast::{
    AggOp, AggregateExpr, Call, Expr, MatrixSelector, Pos, RangeMode, VectorSelector,
};
use crate::functions;
use crate::functions::rate::{self, RateKind};
use crate::value::QueryError;

/// Steps evaluated per block: bounds the memory held by precomputed vectors.
pub(super) const STEPS_PER_BLOCK: usize = 64;

/// Fewest member folds per parallel task of a fused aggregation's fold.
const MIN_FOLDS_PER_TASK: usize = 1 << 16;

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
        self.take_id(node_id(node), t)
    }

    /// [`Self::take`] by the key the node was stored under.
    pub(super) fn take_id(&self, id: usize, t: i64) -> Option<Vec<Elem>> {
        let slots = self.nodes.get(&id)?;
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

pub(super) fn node_id(e: &Expr) -> usize {
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

/// The extrapolating function of `rc` when its windows can slide across steps:
/// `rate`, `increase` or `delta` over a plain range selector.
fn sliding_rate_kind(rc: &RangeCall<'_>) -> Option<RateKind> {
    if rc.matrix.mode != RangeMode::Plain {
        return None;
    }
    match rc.call.func.as_str() {
        "rate" => Some(RateKind::Rate),
        "increase" => Some(RateKind::Increase),
        "delta" => Some(RateKind::Delta),
        _ => None,
    }
}

/// An aggregation folded one float at a time, without a parameter.
pub(super) fn is_streaming_aggregation(a: &AggregateExpr) -> bool {
    a.param.is_none()
        && matches!(
            a.op,
            AggOp::Sum
                | AggOp::Avg
                | AggOp::Count
                | AggOp::Min
                | AggOp::Max
                | AggOp::Group
                | AggOp::Stddev
                | AggOp::Stdvar
        )
}

/// A streaming aggregation over a leaf, folded straight from the leaf's values.
fn fusable_aggregate(a: &AggregateExpr) -> bool {
    is_streaming_aggregation(a)
        && match a.expr.unparen() {
            Expr::VectorSelector(_) => true,
            Expr::Call(c) => range_call(c).is_some(),
            _ => false,
        }
}

/// Whether `e` is a leaf this module precomputes.
pub(super) fn is_leaf(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) => true,
        Expr::Call(c) => range_call(c).is_some(),
        _ => false,
    }
}

/// The fused aggregations among the precomputed nodes of `ast` (those
/// [`Evaluator::fused_aggregate`] folds), each with the selector node whose series
/// it reads: no other node reads those series, so they can be streamed.
pub(super) fn fused_aggregates(ast: &Expr) -> Vec<(&Expr, &AggregateExpr, usize)> {
    let mut nodes = Vec::new();
    collect(ast, &mut nodes);
    nodes
        .into_iter()
        .filter_map(|node| match node {
            Expr::Aggregate(a) if fusable_aggregate(a) && !series_major_binary::claims(node) => {
                let selector_id = match a.expr.unparen() {
                    Expr::VectorSelector(vs) => vs.id,
                    Expr::Call(c) => range_call(c)?.matrix.vs.id,
                    _ => return None,
                };
                Some((node, a, selector_id))
            }
            _ => None,
        })
        .collect()
}

/// The nodes of `e` evaluated at the query's own steps that can be precomputed.
fn collect<'x>(e: &'x Expr, out: &mut Vec<&'x Expr>) {
    match e {
        // Binary operations and aggregations over them: series_major_binary.rs.
        Expr::Binary(_) | Expr::Aggregate(_) if series_major_binary::claims(e) => out.push(e),
        Expr::VectorSelector(_) => out.push(e),
        Expr::Call(c) if range_call(c).is_some() => out.push(e),
        Expr::Aggregate(a) if fusable_aggregate(a) => out.push(e),
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

/// A leaf node prepared for one block: what to evaluate per series and step.
pub(super) struct Leaf<'x> {
    kind: LeafKind<'x>,
    /// Selector reference time (`@`, `offset` applied) per step.
    ref_times: Vec<i64>,
    /// The selector node id whose series the leaf reads.
    pub(super) selector_id: usize,
    /// Whether `ref_times` never decrease, so windows can slide forward.
    ascending: bool,
}

impl<'x> Leaf<'x> {
    fn new(kind: LeafKind<'x>, ref_times: Vec<i64>, selector_id: usize) -> Self {
        let ascending = ref_times.windows(2).all(|w| w[0] <= w[1]);
        Leaf {
            kind,
            ref_times,
            selector_id,
            ascending,
        }
    }
}

/// One value of a leaf at one step. A float of a series is kept as a borrow of
/// the series' labels: a fused aggregation reads the number only, so cloning the
/// labels pointer for every series and step would be wasted (shared-count traffic).
pub(super) enum LeafValue<'s> {
    Elem(Elem),
    Float {
        labels: &'s Arc<Labels>,
        f: f64,
        drop_name: bool,
    },
}

impl LeafValue<'_> {
    fn into_elem(self) -> Elem {
        match self {
            LeafValue::Elem(e) => e,
            LeafValue::Float {
                labels,
                f,
                drop_name,
            } => Elem {
                labels: Arc::clone(labels),
                f,
                h: None,
                drop_name,
            },
        }
    }
}

enum LeafKind<'x> {
    Selector(&'x VectorSelector),
    RangeCall {
        rc: RangeCall<'x>,
        range_ms: i64,
        pos: Pos,
    },
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
        while let Some(node) = nodes.pop() {
            self.check_alive()?;
            // Fused aggregations already folded from streamed batches.
            if let Some(slots) = self.streamed_block(node, steps) {
                block.nodes.insert(node_id(node), slots);
                continue;
            }
            if series_major_binary::claims(node) {
                match self.claimed_node_steps(node, steps) {
                    Some(per_step) => {
                        let slots = per_step.into_iter().map(|p| Mutex::new(Some(p))).collect();
                        block
                            .nodes
                            .insert(series_major_binary::block_key(node), slots);
                    }
                    // Declined: its operands are precomputed as they would be otherwise.
                    None => match node {
                        Expr::Binary(b) => {
                            collect(&b.lhs, &mut nodes);
                            collect(&b.rhs, &mut nodes);
                        }
                        Expr::Aggregate(a) => collect(&a.expr, &mut nodes),
                        _ => {}
                    },
                }
                continue;
            }
            // An error is left for the step-major path to report as it always has.
            let (node, per_step) = match node {
                Expr::Aggregate(a) => match self.fused_aggregate(a, steps) {
                    Ok(Some(v)) => (node, v),
                    // Histograms in the input: precompute the input alone.
                    Ok(None) => match self.leaf_pieces(a.expr.unparen(), steps) {
                        Ok(v) => (a.expr.unparen(), v),
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                },
                _ => match self.leaf_pieces(node, steps) {
                    Ok(v) => (node, v),
                    Err(_) => continue,
                },
            };
            let slots = per_step.into_iter().map(|p| Mutex::new(Some(p))).collect();
            block.nodes.insert(node_id(node), slots);
        }
        Ok(block)
    }

    /// Prepares leaf `node` (a selector or a [`RangeCall`]) for `steps`,
    /// reporting the annotations the step-major path reports once per call.
    pub(super) fn leaf<'x>(&self, node: &'x Expr, steps: &[i64]) -> Result<Leaf<'x>, QueryError> {
        let ref_times_of = |vs: &VectorSelector| -> Result<Vec<i64>, QueryError> {
            steps.iter().map(|&t| self.selector_time(vs, t)).collect()
        };
        match node {
            Expr::VectorSelector(vs) => {
                Ok(Leaf::new(LeafKind::Selector(vs), ref_times_of(vs)?, vs.id))
            }
            Expr::Call(c) => {
                let rc = range_call(c).ok_or_else(|| not_a_leaf())?;
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
                let ref_times = ref_times_of(&ms.vs)?;
                let kind = LeafKind::RangeCall {
                    range_ms: self.duration_ms(&ms.range)?,
                    pos: super::calls::arg_pos(c, rc.matrix_arg),
                    rc,
                };
                Ok(Leaf::new(kind, ref_times, ms.vs.id))
            }
            _ => Err(not_a_leaf()),
        }
    }

    /// Leaf `leaf` for series `s` at each step of the block: `emit(step index, value)`.
    pub(super) fn leaf_series<'s>(
        &self,
        leaf: &Leaf<'_>,
        s: &'s SeriesData,
        steps: &[i64],
        mut emit: impl FnMut(usize, LeafValue<'s>),
    ) -> Result<(), QueryError> {
        match &leaf.kind {
            // A float series read plainly: the number alone, no element per step.
            LeafKind::Selector(vs) if !vs.smoothed && s.hpoints.is_empty() => {
                let labels = &s.labels;
                let mut emit_float = |i, f| {
                    let drop_name = false;
                    emit(
                        i,
                        LeafValue::Float {
                            labels,
                            f,
                            drop_name,
                        },
                    )
                };
                if leaf.ascending {
                    self.plain_floats(s, &leaf.ref_times, emit_float);
                } else {
                    for (i, &ref_t) in leaf.ref_times.iter().enumerate() {
                        if let Some(f) = self.latest_float(s, ref_t) {
                            emit_float(i, f);
                        }
                    }
                }
            }
            LeafKind::Selector(vs) => {
                for (i, &ref_t) in leaf.ref_times.iter().enumerate() {
                    if let Some((e, _)) = self.sample_at(vs, s, ref_t) {
                        emit(i, LeafValue::Elem(e));
                    }
                }
            }
            LeafKind::RangeCall { rc, range_ms, pos } => {
                if let Some(kind) = sliding_rate_kind(rc) {
                    if leaf.ascending && s.hpoints.is_empty() && s.start_timestamps.is_empty() {
                        self.sliding_rate_series(
                            rc.call,
                            kind,
                            *range_ms,
                            s,
                            &leaf.ref_times,
                            emit,
                        );
                        return Ok(());
                    }
                }
                // Other float functions over plain windows slide too (functions/sliding.rs).
                if let Some(sliding) = functions::sliding::Sliding::of(&rc.call.func) {
                    let plain = rc.matrix.mode == RangeMode::Plain && *range_ms > 0;
                    let floats_only = s.hpoints.is_empty() && s.start_timestamps.is_empty();
                    if plain && leaf.ascending && floats_only {
                        let drop_name = !super::calls::range_fn_keeps_name(&rc.call.func);
                        let labels = &s.labels;
                        let (refs, scalars) = (&leaf.ref_times, &rc.scalars);
                        return sliding.run(&s.points, *range_ms, refs, steps, scalars, |i, f| {
                            emit(
                                i,
                                LeafValue::Float {
                                    labels,
                                    f,
                                    drop_name,
                                },
                            )
                        });
                    }
                }
                let mode = rc.matrix.mode;
                // The metric name annotation depends on the series only.
                let mut name_checked = false;
                for (i, (&t, &ref_t)) in steps.iter().zip(&leaf.ref_times).enumerate() {
                    let range_start = ref_t - range_ms;
                    let Some(w) = self.series_window(s, mode, range_start, ref_t) else {
                        continue;
                    };
                    let window = (range_start, ref_t, mode);
                    let (c, check_name) = (rc.call, !name_checked);
                    name_checked |= !w.points.is_empty() && w.hpoints.is_empty();
                    if let Some(e) = self.range_call_series(
                        c,
                        rc.kernel,
                        &w,
                        window,
                        t,
                        &rc.scalars,
                        *pos,
                        check_name,
                    )? {
                        emit(i, LeafValue::Elem(e));
                    }
                }
            }
        }
        Ok(())
    }

    /// A float series' value at each of the ascending `ref_times` where it has a
    /// fresh one (the latest sample inside the lookback window, not stale), found
    /// by stepping a cursor forward through the series.
    #[inline]
    fn plain_floats(&self, s: &SeriesData, ref_times: &[i64], mut emit: impl FnMut(usize, f64)) {
        let mut seen = 0;
        for (i, &ref_t) in ref_times.iter().enumerate() {
            seen = count_at_or_before_from(&s.points, ref_t, seen);
            if let Some(f) = self.fresh_float(s.points[..seen].last(), ref_t) {
                emit(i, f);
            }
        }
    }

    /// `rate`/`increase`/`delta` (`kind`) of a float series without start
    /// timestamps over plain windows `(ref_t - range_ms, ref_t]` at ascending
    /// `ref_times`: the window's two ends only move forward, and the counter drops
    /// are found once, so no window is searched or rescanned. Same results and
    /// annotations as [`Self::range_call_series`] on each window.
    fn sliding_rate_series<'s>(
        &self,
        call: &Call,
        kind: RateKind,
        range_ms: i64,
        s: &'s SeriesData,
        ref_times: &[i64],
        mut emit: impl FnMut(usize, LeafValue<'s>),
    ) {
        let drop_name = !super::calls::range_fn_keeps_name(&call.func);
        let (Some(&first_ref), Some(&last_ref)) = (ref_times.first(), ref_times.last()) else {
            return;
        };
        // Only the points of the block's windows are looked at: the series spans
        // the whole query, the block a part of it.
        let span_lo = count_at_or_before(&s.points, first_ref - range_ms);
        let points = &s.points[..count_at_or_before(&s.points, last_ref)];
        let counter = kind != RateKind::Delta;
        let drops: Vec<usize> = if counter {
            let in_span = rate::counter_drops(&points[span_lo..]);
            in_span.into_iter().map(|d| d + span_lo).collect()
        } else {
            Vec::new()
        };
        // The "might not be a counter" info looks at the series' name once.
        let mut name_checked = !counter;
        let (mut lo, mut hi) = (span_lo, span_lo);
        for (i, &ref_t) in ref_times.iter().enumerate() {
            let range_start = ref_t - range_ms;
            while lo < points.len() && points[lo].t <= range_start {
                lo += 1;
            }
            while hi < points.len() && points[hi].t <= ref_t {
                hi += 1;
            }
            if lo >= hi {
                continue;
            }
            if !name_checked {
                name_checked = true;
                let name = s.labels.metric_name();
                if let Some(info) = functions::annotations::possible_non_counter_info(name) {
                    self.info(info, super::calls::arg_pos(call, 0));
                }
            }
            // Drops between two points of the window: indices lo..hi-1.
            let first_drop = drops.partition_point(|&d| d < lo);
            let end_drop = drops.partition_point(|&d| d + 1 < hi).max(first_drop);
            let drop_values = drops[first_drop..end_drop].iter().map(|&d| points[d].f);
            let window = &points[lo..hi];
            if let Some(f) =
                rate::extrapolated_rate_with_drops(window, drop_values, range_start, ref_t, kind)
            {
                let labels = &s.labels;
                emit(
                    i,
                    LeafValue::Float {
                        labels,
                        f,
                        drop_name,
                    },
                );
            }
        }
    }

    /// Leaf `node` at each of `steps`, in pieces of series.
    fn leaf_pieces(&self, node: &Expr, steps: &[i64]) -> Result<Vec<Vec<Vec<Elem>>>, QueryError> {
        let leaf = self.leaf(node, steps)?;
        let series = self.series_of(leaf.selector_id);
        let chunks = for_each_chunk(series, |chunk| {
            let mut per_step: Vec<Vec<Elem>> = (0..steps.len())
                .map(|_| Vec::with_capacity(chunk.len()))
                .collect();
            for s in chunk {
                self.leaf_series(&leaf, s, steps, |i, v| per_step[i].push(v.into_elem()))?;
            }
            Ok(per_step)
        })?;
        Ok(transpose(chunks, steps.len()))
    }

    /// Streaming aggregation `a` of a float-only leaf at each of `steps`, folded
    /// from the leaf's values without building its vectors: per step, members are
    /// added in series order, exactly as the step-major path adds them. `None`
    /// when the leaf's series hold histograms (left to the step-major path).
    fn fused_aggregate(
        &self,
        a: &AggregateExpr,
        steps: &[i64],
    ) -> Result<Option<Vec<Vec<Vec<Elem>>>>, QueryError> {
        let leaf = self.leaf(a.expr.unparen(), steps)?;
        let series = self.series_of(leaf.selector_id);
        if series.iter().any(|s| !s.hpoints.is_empty()) {
            return Ok(None);
        }
        let labels: Vec<&Arc<Labels>> = series.iter().map(|s| &s.labels).collect();
        let ids = self.group_ids_of(a, &labels);
        let n_groups = ids.iter().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut group_labels: Vec<Option<Arc<Labels>>> = vec![None; n_groups];
        for (s, &id) in series.iter().zip(&ids) {
            group_labels[id as usize].get_or_insert_with(|| {
                Arc::new(aggregate::group_labels(&s.labels, a.grouping.as_ref()))
            });
        }
        let chunks = for_each_chunk(series, |chunk| self.leaf_values(&leaf, chunk, steps))?;
        if chunks.iter().any(|c| c.histogram) {
            return Ok(None);
        }
        Ok(Some(fold_groups(
            a.op,
            steps.len(),
            &chunks,
            &ids,
            &group_labels,
        )))
    }

    /// The values of `leaf` for `series` at each of `steps`, for a fused aggregation.
    pub(super) fn leaf_values(
        &self,
        leaf: &Leaf<'_>,
        series: &[SeriesData],
        steps: &[i64],
    ) -> Result<LeafValues, QueryError> {
        let (n, rows) = (steps.len(), series.len());
        let mut out = LeafValues {
            rows,
            values: vec![0.0; series.len() * n],
            present: vec![false; series.len() * n],
            drop_name: false,
            histogram: false,
        };
        let plain = matches!(&leaf.kind, LeafKind::Selector(vs) if !vs.smoothed) && leaf.ascending;
        for (row, s) in series.iter().enumerate() {
            // The commonest leaf, a plain float selector, writes its values
            // straight in: no per-value element, no call per value.
            if plain && s.hpoints.is_empty() {
                let (values, present) = (&mut out.values, &mut out.present);
                self.plain_floats(s, &leaf.ref_times, |i, f| {
                    values[i * rows + row] = f;
                    present[i * rows + row] = true;
                });
                continue;
            }
            self.leaf_series(leaf, s, steps, |i, v| {
                let (f, elem_drop_name, elem_histogram) = match &v {
                    LeafValue::Elem(e) => (e.f, e.drop_name, e.h.is_some()),
                    LeafValue::Float { f, drop_name, .. } => (*f, *drop_name, false),
                };
                out.values[i * rows + row] = f;
                out.present[i * rows + row] = true;
                out.drop_name |= elem_drop_name;
                out.histogram |= elem_histogram;
            })?;
        }
        Ok(out)
    }
}

/// A leaf's float values for a run of series (rows), step by step: what a fused
/// aggregation folds (no labels, no per-step vectors). A step's values are
/// contiguous, as the fold reads them.
pub(super) struct LeafValues {
    pub rows: usize,
    /// `values[i * rows + row]`: the series' value at step `i`, if `present`.
    pub values: Vec<f64>,
    pub present: Vec<bool>,
    /// Some value drops the metric name (the output groups then do too).
    pub drop_name: bool,
    /// Some value is a histogram: the fused fold does not apply.
    pub histogram: bool,
}

/// Folds streaming aggregation `op` at each of `steps` steps from `chunks` (runs of
/// series in series order, `ids[k]` the group id of the k-th series overall):
/// per step, members are added in series order and groups are output in the order
/// their first member appears, exactly as the step-major path does.
pub(super) fn fold_groups(
    op: AggOp,
    steps: usize,
    chunks: &[LeafValues],
    ids: &[u32],
    group_labels: &[Option<Arc<Labels>>],
) -> Vec<Vec<Vec<Elem>>> {
    let drop_name = chunks.iter().any(|c| c.drop_name);
    let n = steps;
    // Small folds stay on few threads: handing a few microseconds of work to
    // another thread costs more than it saves.
    let rows: usize = chunks.iter().map(|c| c.rows).sum();
    let min_steps_per_task = (MIN_FOLDS_PER_TASK / rows.max(1)).max(1);
    (0..n)
        .into_par_iter()
        .with_min_len(min_steps_per_task)
        .map(|i| {
            let mut slots = vec![usize::MAX; group_labels.len()];
            let mut groups: Vec<(usize, aggregate::FloatFold)> = Vec::new();
            let mut row_ids = ids.iter();
            for c in chunks {
                for row in 0..c.rows {
                    let id = *row_ids.next().expect("one id per series") as usize;
                    let at = i * c.rows + row;
                    if !c.present[at] {
                        continue;
                    }
                    if slots[id] == usize::MAX {
                        slots[id] = groups.len();
                        groups.push((id, aggregate::FloatFold::default()));
                    }
                    groups[slots[id]].1.add(op, c.values[at]);
                }
            }
            let out = groups
                .into_iter()
                .map(|(id, g)| Elem {
                    labels: group_labels[id].clone().expect("labels of a seen group"),
                    f: g.result(op),
                    h: None,
                    drop_name,
                })
                .collect();
            vec![out]
        })
        .collect()
}

fn not_a_leaf() -> QueryError {
    QueryError::Internal("series-major evaluation of a non-leaf node".into())
}

/// Runs `f` over chunks of `series` (in parallel when there are enough);
/// returns the chunks' outputs in series order.
pub(super) fn for_each_chunk<S: Sync, T: Send>(
    series: &[S],
    f: impl Fn(&[S]) -> Result<T, QueryError> + Sync,
) -> Result<Vec<T>, QueryError> {
    let tasks = rayon::current_num_threads().max(1) * 4;
    let chunk = series.len().div_ceil(tasks).max(MIN_SERIES_PER_TASK);
    if series.len() <= chunk {
        return Ok(vec![f(series)?]);
    }
    series.par_chunks(chunk).map(&f).collect()
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
