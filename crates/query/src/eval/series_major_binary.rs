//! Series-major evaluation of binary operations, and of aggregations over them,
//! in range queries.
//!
//! Step by step, a binary operation between two vectors matches both sides
//! again and builds new output elements at every step, although the series on
//! either side are the same at every step. When the operands are precomputable
//! leaves (see [`super::series_major`]), such operations themselves, or number
//! literals, this module pairs the series once per block of steps and then only
//! combines values per step; output labels are built once per pair. A streaming
//! aggregation over such an operation (`sum by(x)(a + b)`), or over a streaming
//! aggregation of a leaf (`count(count(x) by (y))`), folds the combined values
//! directly.
//!
//! Results equal the step-major path's bit for bit: values go through the same
//! operator and fold functions, in the order the step-major path would meet them
//! (tracked per step, see [`Table::order`]). What this module cannot reproduce
//! exactly — histograms, signatures that are ambiguous at some step (errors
//! there), `group_left`/`group_right`, `fill`, set operators — it declines, and
//! the node takes the step-major path.

use std::sync::Arc;

use tidemark_model::Labels;

use super::aggregate;
use super::binary::{drops_name, float_binop, result_labels};
use super::labels_util::{push_signature_on, push_signature_without};
use super::series_keys::site_of;
use super::series_major::{for_each_chunk, is_leaf, is_streaming_aggregation, LeafValue};
use super::{Elem, Evaluator};
use crate::ast::{AggregateExpr, BinOp, BinaryExpr, Cardinality, Expr, VectorMatching};
use crate::value::QueryError;

/// Whether `e` (a binary operation or an aggregation) is evaluated by this module
/// as a whole. Aggregations of a leaf alone are left to [`super::series_major`].
pub(super) fn claims(e: &Expr) -> bool {
    matches!(shape(e), Some(Shape::Derived))
}

/// The key under which the block stores a claimed node's vectors: binary
/// operations are looked up by their [`BinaryExpr`], as that is what
/// [`Evaluator::binary`] is given.
pub(super) fn block_key(e: &Expr) -> usize {
    match e {
        Expr::Binary(b) => site_of(b),
        _ => site_of(e),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A precomputable leaf (selector, range function over a selector).
    Leaf,
    /// A streaming aggregation of a leaf: [`super::series_major`] fuses it on
    /// its own; this module only takes it as the input of another aggregation.
    LeafAggregate,
    /// A binary operation or aggregation this module evaluates.
    Derived,
}

fn shape(e: &Expr) -> Option<Shape> {
    match e.unparen() {
        e if is_leaf(e) => Some(Shape::Leaf),
        Expr::Binary(b) if supported_binary(b) => {
            let (l, r) = (operand_shape(&b.lhs)?, operand_shape(&b.rhs)?);
            (l || r).then_some(Shape::Derived)
        }
        Expr::Aggregate(a) if is_streaming_aggregation(a) => match shape(&a.expr)? {
            Shape::Leaf => Some(Shape::LeafAggregate),
            Shape::LeafAggregate | Shape::Derived => Some(Shape::Derived),
        },
        _ => None,
    }
}

/// `Some(true)` for a vector operand this module evaluates, `Some(false)` for a
/// number literal.
fn operand_shape(e: &Expr) -> Option<bool> {
    match e.unparen() {
        Expr::Number(_) => Some(false),
        e => match shape(e)? {
            Shape::Leaf | Shape::Derived => Some(true),
            Shape::LeafAggregate => None,
        },
    }
}

/// Arithmetic and comparisons with one-to-one matching and no `fill`.
fn supported_binary(b: &BinaryExpr) -> bool {
    let arithmetic_or_comparison = !matches!(
        b.op,
        BinOp::And | BinOp::Or | BinOp::Unless | BinOp::TrimUpper | BinOp::TrimLower
    );
    arithmetic_or_comparison
        && matches!(b.modifier.card, Cardinality::OneToOne)
        && b.modifier.fill_lhs.is_none()
        && b.modifier.fill_rhs.is_none()
}

/// One output series of a node.
#[derive(Clone)]
struct Row {
    labels: Arc<Labels>,
    drop_name: bool,
}

/// A node's float values over a block of steps, one row per series it outputs.
struct Table {
    rows: Vec<Row>,
    steps: usize,
    /// `values[row * steps + i]`: the row's value at step `i`, if `present`.
    values: Vec<f64>,
    present: Vec<bool>,
    /// Per step, the rows in the order the step-major path yields them, when
    /// that is not row order (an aggregation yields its groups in the order
    /// their first member appears at that step). Rows listed here may be absent.
    order: Vec<Option<Vec<u32>>>,
}

impl Table {
    fn empty(steps: usize) -> Table {
        Table {
            rows: Vec::new(),
            steps,
            values: Vec::new(),
            present: Vec::new(),
            order: vec![None; steps],
        }
    }

    /// Visits the rows present at step `i`, in step-major order.
    fn for_rows_at(&self, i: usize, mut f: impl FnMut(usize)) {
        let n = self.steps;
        match &self.order[i] {
            Some(order) => order
                .iter()
                .map(|&r| r as usize)
                .filter(|&r| self.present[r * n + i])
                .for_each(f),
            None => (0..self.rows.len())
                .filter(|&r| self.present[r * n + i])
                .for_each(&mut f),
        }
    }

    /// The vector at each step, as the block stores it (one piece per step).
    fn into_steps(self) -> Vec<Vec<Vec<Elem>>> {
        (0..self.steps)
            .map(|i| {
                let mut out = Vec::new();
                self.for_rows_at(i, |r| {
                    let row = &self.rows[r];
                    out.push(Elem {
                        labels: row.labels.clone(),
                        f: self.values[r * self.steps + i],
                        h: None,
                        drop_name: row.drop_name,
                    })
                });
                vec![out]
            })
            .collect()
    }
}

impl Evaluator<'_> {
    /// The vectors of claimed node `e` at each of `steps`. `None` when this
    /// module cannot reproduce the step-major result exactly, or evaluating it
    /// failed (the step-major path then reports the error as it always has).
    pub(super) fn claimed_node_steps(
        &self,
        e: &Expr,
        steps: &[i64],
    ) -> Option<Vec<Vec<Vec<Elem>>>> {
        match self.table(e, steps) {
            Ok(Some(t)) => Some(t.into_steps()),
            Ok(None) | Err(_) => None,
        }
    }

    fn table(&self, e: &Expr, steps: &[i64]) -> Result<Option<Table>, QueryError> {
        self.check_alive()?;
        match e.unparen() {
            Expr::Binary(b) => self.binary_table(b, steps),
            Expr::Aggregate(a) => match self.table(&a.expr, steps)? {
                Some(input) => Ok(self.aggregate_table(a, &input)),
                None => Ok(None),
            },
            leaf => self.leaf_table(leaf, steps),
        }
    }

    /// A leaf's values, series by series (in parallel chunks), as the leaf
    /// precomputation yields them. `None` if it yields histograms.
    fn leaf_table(&self, node: &Expr, steps: &[i64]) -> Result<Option<Table>, QueryError> {
        let leaf = self.leaf(node, steps)?;
        let series = self.series_of(leaf.selector_id);
        if series.iter().any(|s| !s.hpoints.is_empty()) {
            return Ok(None);
        }
        let n = steps.len();
        let parts = for_each_chunk(series, |chunk| {
            let mut part = Table::empty(n);
            part.values.reserve(chunk.len() * n);
            part.present.reserve(chunk.len() * n);
            let mut usable = true;
            for s in chunk {
                let base = part.values.len();
                part.values.resize(base + n, 0.0);
                part.present.resize(base + n, false);
                let mut row: Option<Row> = None;
                let (values, present) = (&mut part.values, &mut part.present);
                self.leaf_series(&leaf, s, steps, |i, v| {
                    let (labels, f, drop_name) = match &v {
                        LeafValue::Elem(e) => {
                            usable &= e.h.is_none();
                            (&e.labels, e.f, e.drop_name)
                        }
                        LeafValue::Float {
                            labels,
                            f,
                            drop_name,
                        } => (*labels, *f, *drop_name),
                    };
                    match &row {
                        None => {
                            row = Some(Row {
                                labels: labels.clone(),
                                drop_name,
                            })
                        }
                        // A series yields one label set and name flag at every step.
                        Some(r) => {
                            usable &= (Arc::ptr_eq(&r.labels, labels) || r.labels == *labels)
                                && r.drop_name == drop_name
                        }
                    }
                    values[base + i] = f;
                    present[base + i] = true;
                })?;
                match row {
                    Some(r) => part.rows.push(r),
                    None => {
                        part.values.truncate(base);
                        part.present.truncate(base);
                    }
                }
            }
            Ok(usable.then_some(part))
        })?;
        let mut table = Table::empty(n);
        for part in parts {
            let Some(part) = part else {
                return Ok(None);
            };
            table.rows.extend(part.rows);
            table.values.extend(part.values);
            table.present.extend(part.present);
        }
        Ok(Some(table))
    }

    fn binary_table(&self, b: &BinaryExpr, steps: &[i64]) -> Result<Option<Table>, QueryError> {
        let number = |e: &Expr| match e.unparen() {
            Expr::Number(v) => Some(*v),
            _ => None,
        };
        let return_bool = b.modifier.return_bool;
        match (number(&b.lhs), number(&b.rhs)) {
            (Some(s), None) => Ok(self
                .table(&b.rhs, steps)?
                .map(|t| scalar_op(b.op, t, s, true, return_bool))),
            (None, Some(s)) => Ok(self
                .table(&b.lhs, steps)?
                .map(|t| scalar_op(b.op, t, s, false, return_bool))),
            (None, None) => {
                let Some(l) = self.table(&b.lhs, steps)? else {
                    return Ok(None);
                };
                let Some(r) = self.table(&b.rhs, steps)? else {
                    return Ok(None);
                };
                Ok(self.one_to_one(b, &l, &r))
            }
            (Some(_), Some(_)) => Ok(None),
        }
    }
}

/// `table op s` (or `s op table`): the step-major vector/scalar operation,
/// value by value.
fn scalar_op(op: BinOp, mut t: Table, s: f64, scalar_left: bool, return_bool: bool) -> Table {
    for row in &mut t.rows {
        row.drop_name |= drops_name(op) || return_bool;
    }
    for (v, present) in t.values.iter_mut().zip(t.present.iter_mut()) {
        if !*present {
            continue;
        }
        let (l, r) = if scalar_left { (s, *v) } else { (*v, s) };
        let (mut value, mut keep) = float_binop(op, l, r);
        if op.is_comparison() && scalar_left {
            // The vector element's value is kept even when it is the right operand.
            value = *v;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        *v = value;
        *present = keep;
    }
    t
}

impl Evaluator<'_> {
    /// One-to-one vector matching of `l` and `r`. `None` when a signature is
    /// ambiguous on either side (an error at the steps where it shows, which the
    /// step-major path reports). Matching ids and output labels come from the
    /// query's memos, as in the step-major path, so later blocks reuse them.
    fn one_to_one(&self, b: &BinaryExpr, l: &Table, r: &Table) -> Option<Table> {
        let default_matching = VectorMatching {
            on: false,
            labels: Vec::new(),
        };
        let m = b.modifier.matching.as_ref().unwrap_or(&default_matching);
        let site = site_of(b);
        let series: Vec<&Arc<Labels>> = l.rows.iter().chain(&r.rows).map(|x| &x.labels).collect();
        let ids = self.series_keys.ids(site, &series, |labels, sig| {
            if m.on {
                push_signature_on(sig, labels, &m.labels)
            } else {
                push_signature_without(sig, labels, &m.labels)
            }
        });
        let (left_ids, right_ids) = ids.split_at(l.rows.len());
        let id_space = ids.iter().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut right_of_id = vec![NONE; id_space];
        for (ri, &id) in right_ids.iter().enumerate() {
            if std::mem::replace(&mut right_of_id[id as usize], ri as u32) != NONE {
                return None;
            }
        }
        // (left row, right row) in left row order; each right row matched once.
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let mut right_matched = vec![false; r.rows.len()];
        for (li, &id) in left_ids.iter().enumerate() {
            let ri = right_of_id[id as usize];
            if ri != NONE {
                if std::mem::replace(&mut right_matched[ri as usize], true) {
                    return None;
                }
                pairs.push((li, ri as usize));
            }
        }
        let (op, return_bool, n) = (b.op, b.modifier.return_bool, l.steps);
        let mut out = Table::empty(n);
        out.values = vec![0.0; pairs.len() * n];
        out.present = vec![false; pairs.len() * n];
        for (p, &(li, ri)) in pairs.iter().enumerate() {
            let left = &l.rows[li];
            let derive = |x: &Labels| result_labels(x, x, true, m, &[]);
            let labels = match self.match_labels.get_or_derive(site, &left.labels, derive) {
                Some(shared) => shared,
                None => Arc::new(derive(&left.labels)),
            };
            out.rows.push(Row {
                labels,
                drop_name: left.drop_name || drops_name(op) || return_bool,
            });
            let (lv, lp) = (&l.values[li * n..][..n], &l.present[li * n..][..n]);
            let (rv, rp) = (&r.values[ri * n..][..n], &r.present[ri * n..][..n]);
            let (ov, op_) = (
                &mut out.values[p * n..][..n],
                &mut out.present[p * n..][..n],
            );
            for i in 0..n {
                if !(lp[i] && rp[i]) {
                    continue;
                }
                let (mut value, mut keep) = float_binop(op, lv[i], rv[i]);
                if return_bool {
                    value = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                ov[i] = value;
                op_[i] = keep;
            }
        }
        // The output follows the left operand's order at each step.
        if l.order.iter().any(Option::is_some) {
            let mut pair_of_left = vec![NONE; l.rows.len()];
            for (p, &(li, _)) in pairs.iter().enumerate() {
                pair_of_left[li] = p as u32;
            }
            for (i, order) in l.order.iter().enumerate() {
                out.order[i] = order.as_ref().map(|rows| {
                    rows.iter()
                        .map(|&li| pair_of_left[li as usize])
                        .filter(|&p| p != NONE)
                        .collect()
                });
            }
        }
        Some(out)
    }

    /// Streaming aggregation `a` of `input`: per step, members are folded in the
    /// order the step-major path meets them, and groups come out in the order
    /// their first member appears. `None` when a group's name flag would differ
    /// between steps (a table row has one).
    fn aggregate_table(&self, a: &AggregateExpr, input: &Table) -> Option<Table> {
        let series: Vec<&Arc<Labels>> = input.rows.iter().map(|x| &x.labels).collect();
        let ids = self.group_ids_of(a, &series);
        // Group ids are per query: number the groups of this input densely.
        let id_space = ids.iter().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut group_of_id = vec![NONE; id_space];
        let mut first_member: Vec<usize> = Vec::new();
        let groups_of_rows: Vec<u32> = ids
            .iter()
            .enumerate()
            .map(|(r, &id)| {
                let g = &mut group_of_id[id as usize];
                if *g == NONE {
                    *g = first_member.len() as u32;
                    first_member.push(r);
                }
                *g
            })
            .collect();
        let n = input.steps;
        let groups = first_member.len();
        let mut out = Table::empty(n);
        out.values = vec![0.0; groups * n];
        out.present = vec![false; groups * n];
        let mut drop_name: Vec<Option<bool>> = vec![None; groups];
        // Per group, the fold of the current step and its members' name flags.
        let mut state = vec![(aggregate::FloatFold::default(), false); groups];
        let mut seen: Vec<u32> = Vec::new();
        for i in 0..n {
            seen.clear();
            input.for_rows_at(i, |r| {
                let g = groups_of_rows[r] as usize;
                let (fold, name) = &mut state[g];
                if !out.present[g * n + i] {
                    out.present[g * n + i] = true;
                    seen.push(g as u32);
                    (*fold, *name) = Default::default();
                }
                *name |= input.rows[r].drop_name;
                fold.add(a.op, input.values[r * n + i]);
            });
            for &g in &seen {
                let g = g as usize;
                let (fold, name) = &state[g];
                if *drop_name[g].get_or_insert(*name) != *name {
                    return None;
                }
                out.values[g * n + i] = fold.result(a.op);
            }
            if seen.windows(2).any(|w| w[0] > w[1]) {
                out.order[i] = Some(seen.clone());
            }
        }
        let grouping = a.grouping.as_ref();
        out.rows = first_member
            .iter()
            .zip(&drop_name)
            .map(|(&r, name)| Row {
                labels: Arc::new(aggregate::group_labels(&input.rows[r].labels, grouping)),
                drop_name: name.unwrap_or(false),
            })
            .collect();
        Some(out)
    }
}

/// No row (in row index tables).
const NONE: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::claims;
    use crate::parse::parse_query;

    fn claimed(q: &str) -> bool {
        claims(&parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn claims_operations_on_leaves_and_aggregations_over_them() {
        for q in [
            "a - b",
            "100 * (1 - a / b)",
            "rate(a[5m]) + on(x) rate(b[5m])",
            "a > bool 2",
            "sum by(x)(rate(a[5m]) + rate(b[5m]))",
            "count(count(a) by (x))",
        ] {
            assert!(claimed(q), "{q}");
        }
    }

    #[test]
    fn leaves_other_shapes_to_the_step_major_path() {
        for q in [
            // An aggregation of a leaf alone is series_major's.
            "sum(rate(a[5m]))",
            "100 * (1 - avg by(x)(rate(a[5m])))",
            "a and b",
            "a * on(x) group_left(y) b",
            "a + fill(0) b",
            "topk(3, a + b)",
            "scalar(a) * b",
            "1 + 2",
        ] {
            assert!(!claimed(q), "{q}");
        }
    }
}
