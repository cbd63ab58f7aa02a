//! Binary operators: scalar/vector arithmetic and comparisons, vector matching
//! (`on`/`ignoring`, `group_left`/`group_right`, 3.x `fill*`) and set operators.

use std::collections::HashSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tidemark_model::Labels;

use super::histogram_binop::{elem_binop, Note, Operand};
use super::labels_util::{
    drop_labels, drop_labels_and_name, keep_labels, push_signature_on, push_signature_without,
    signature_on, signature_without, Signature,
};
use super::series_keys::{site_of, SiteId};
use super::{Elem, Evaluator, StepValue};
use crate::ast::{BinOp, BinaryExpr, Cardinality, VectorMatching};
use crate::value::QueryError;

/// `op(lhs, rhs)` on floats: the value and whether a comparison holds. For
/// comparisons the value is the left operand, as in Prometheus.
pub(crate) fn float_binop(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        // Set operators never get here; trimming needs a histogram.
        BinOp::And | BinOp::Or | BinOp::Unless | BinOp::TrimUpper | BinOp::TrimLower => {
            (f64::NAN, false)
        }
    }
}

/// Operators whose result no longer measures the named metric.
pub(super) fn drops_name(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow | BinOp::Atan2
    )
}

impl Evaluator<'_> {
    pub(crate) fn binary<'e>(
        &'e self,
        b: &BinaryExpr,
        t: i64,
    ) -> Result<StepValue<'e>, QueryError> {
        // Evaluated series-major for the whole block (series_major_binary.rs).
        let block = self.block.read().expect("step block lock");
        if let Some(v) = block.take_id(site_of(b), t) {
            return Ok(StepValue::Vector(v));
        }
        drop(block);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        let mut notes: Vec<Note> = Vec::new();
        let result = self.binary_values(b, lhs, rhs, &mut notes);
        for (is_warning, text) in notes {
            if is_warning {
                self.warn(text, b.pos);
            } else {
                self.info(text, b.pos);
            }
        }
        result
    }

    fn binary_values<'e>(
        &'e self,
        b: &BinaryExpr,
        lhs: StepValue<'e>,
        rhs: StepValue<'e>,
        notes: &mut Vec<Note>,
    ) -> Result<StepValue<'e>, QueryError> {
        let op = b.op;
        let return_bool = b.modifier.return_bool;
        match (lhs, rhs) {
            (StepValue::Scalar(l), StepValue::Scalar(r)) => {
                let (v, keep) = float_binop(op, l, r);
                if op.is_comparison() {
                    Ok(StepValue::Scalar(if keep { 1.0 } else { 0.0 }))
                } else {
                    Ok(StepValue::Scalar(v))
                }
            }
            (StepValue::Vector(v), StepValue::Scalar(s)) => Ok(StepValue::Vector(vector_scalar(
                op,
                v,
                s,
                false,
                return_bool,
                notes,
            ))),
            (StepValue::Scalar(s), StepValue::Vector(v)) => Ok(StepValue::Vector(vector_scalar(
                op,
                v,
                s,
                true,
                return_bool,
                notes,
            ))),
            (StepValue::Vector(l), StepValue::Vector(r)) => {
                let matching = b.modifier.matching.clone().unwrap_or(VectorMatching {
                    on: false,
                    labels: Vec::new(),
                });
                let out = match op {
                    BinOp::And => set_and(l, r, &matching),
                    BinOp::Or => set_or(l, r, &matching),
                    BinOp::Unless => set_unless(l, r, &matching),
                    _ => {
                        let site = site_of(b);
                        let matched = MatchKeys {
                            ids: self.match_ids(site, &l, &r, &matching),
                            one_to_one_labels: &|many: &Arc<Labels>| {
                                self.match_labels.get_or_derive(site, many, |l| {
                                    result_labels(l, l, true, &matching, &[])
                                })
                            },
                        };
                        vector_vector(op, l, r, &b.modifier, &matching, &matched, notes)?
                    }
                };
                Ok(StepValue::Vector(out))
            }
            (l, r) => Err(QueryError::BadData(format!(
                "binary expression must contain only scalar and instant vector types, got {} {} {}",
                l.type_name(),
                op.as_str(),
                r.type_name()
            ))),
        }
    }
}

fn vector_scalar(
    op: BinOp,
    v: Vec<Elem>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
    notes: &mut Vec<Note>,
) -> Vec<Elem> {
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let elem = Operand {
            f: e.f,
            h: e.h.as_ref(),
        };
        let scalar = Operand { f: s, h: None };
        let (l, r) = if scalar_left {
            (scalar, elem)
        } else {
            (elem, scalar)
        };
        let o = elem_binop(op, l, r, e.labels.metric_name().unwrap_or(""), notes);
        if o.incompatible {
            continue;
        }
        let (mut value, mut keep, mut h) = (o.f, o.keep, o.h);
        if op.is_comparison() && scalar_left {
            // The vector element's value is kept even when it is the right operand.
            value = e.f;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
            h = None;
        }
        if keep {
            e.f = value;
            e.h = h;
            e.drop_name |= drops_name(op) || return_bool;
            out.push(e);
        }
    }
    out
}

impl Evaluator<'_> {
    /// Matching key ids of `l` followed by those of `r`: equal ids mean equal
    /// matching signatures. Memoized per series (see [`super::series_keys`]).
    fn match_ids(&self, site: SiteId, l: &[Elem], r: &[Elem], m: &VectorMatching) -> Vec<u32> {
        let series: Vec<&Arc<Labels>> = l.iter().chain(r).map(|e| &e.labels).collect();
        self.series_keys.ids(site, &series, |labels, sig| {
            if m.on {
                push_signature_on(sig, labels, &m.labels)
            } else {
                push_signature_without(sig, labels, &m.labels)
            }
        })
    }
}

/// Per-step matching inputs computed (or memoized) by the evaluator.
struct MatchKeys<'k> {
    /// Key ids of the left operand's elements, then the right operand's.
    ids: Vec<u32>,
    /// Memoized one-to-one output labels of a series, when it is shared.
    one_to_one_labels: &'k dyn Fn(&Arc<Labels>) -> Option<Arc<Labels>>,
}

fn signature(labels: &Labels, m: &VectorMatching) -> Signature {
    if m.on {
        signature_on(labels, &m.labels)
    } else {
        signature_without(labels, &m.labels)
    }
}

fn set_and(l: Vec<Elem>, r: Vec<Elem>, m: &VectorMatching) -> Vec<Elem> {
    let rsigs: HashSet<Signature> = r.iter().map(|e| signature(&e.labels, m)).collect();
    l.into_iter()
        .filter(|e| rsigs.contains(&signature(&e.labels, m)))
        .collect()
}

fn set_or(l: Vec<Elem>, r: Vec<Elem>, m: &VectorMatching) -> Vec<Elem> {
    let lsigs: HashSet<Signature> = l.iter().map(|e| signature(&e.labels, m)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|e| !lsigs.contains(&signature(&e.labels, m))),
    );
    out
}

fn set_unless(l: Vec<Elem>, r: Vec<Elem>, m: &VectorMatching) -> Vec<Elem> {
    let rsigs: HashSet<Signature> = r.iter().map(|e| signature(&e.labels, m)).collect();
    l.into_iter()
        .filter(|e| !rsigs.contains(&signature(&e.labels, m)))
        .collect()
}

/// Go's `labels.Labels.String()`: every label, `__name__` included, in braces.
fn go_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The labels of a match group, for error messages.
fn match_group_labels(labels: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        keep_labels(labels, &m.labels)
    } else {
        drop_labels_and_name(labels, &m.labels)
    }
}

/// Arithmetic and comparisons between two vectors. Internally the "many" side is
/// always on the left (`group_right` swaps the operands and swaps them back when
/// applying the operator).
fn vector_vector(
    op: BinOp,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
    modifier: &crate::ast::BinModifier,
    m: &VectorMatching,
    keys: &MatchKeys<'_>,
    notes: &mut Vec<Note>,
) -> Result<Vec<Elem>, QueryError> {
    let (include, swapped) = match &modifier.card {
        Cardinality::ManyToOne(l) => (l.as_slice(), false),
        Cardinality::OneToMany(l) => (l.as_slice(), true),
        _ => (&[][..], false),
    };
    let one_to_one = matches!(
        modifier.card,
        Cardinality::OneToOne | Cardinality::ManyToMany
    );
    let (lhs_ids, rhs_ids) = keys.ids.split_at(lhs.len());
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let (many_ids, one_ids) = if swapped {
        (rhs_ids, lhs_ids)
    } else {
        (lhs_ids, rhs_ids)
    };
    let return_bool = modifier.return_bool;

    let mut one_by_sig: FxHashMap<u32, usize> =
        FxHashMap::with_capacity_and_hasher(one.len(), Default::default());
    for (i, e) in one.iter().enumerate() {
        if let Some(prev) = one_by_sig.insert(one_ids[i], i) {
            let side = if swapped { "left" } else { "right" };
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                go_labels(&match_group_labels(&e.labels, m)),
                go_labels(&one[prev].labels),
                go_labels(&e.labels)
            )));
        }
    }

    let mut out = Vec::new();
    let mut matched_one: Vec<bool> = vec![false; one.len()];
    // one-to-one: signatures already produced (with no label sets);
    // many-to-one: output label sets per signature.
    let mut produced: FxHashMap<u32, HashSet<Labels>> = FxHashMap::default();
    let mut combine = |ml: &Elem,
                       ol: &Elem,
                       mf: f64,
                       of: f64,
                       out: &mut Vec<Elem>,
                       sig: u32,
                       produced: &mut FxHashMap<u32, HashSet<Labels>>|
     -> Result<(), QueryError> {
        let mo = Operand {
            f: mf,
            h: ml.h.as_ref(),
        };
        let oo = Operand {
            f: of,
            h: ol.h.as_ref(),
        };
        let (l, r, left) = if swapped { (oo, mo, ol) } else { (mo, oo, ml) };
        let o = elem_binop(op, l, r, left.labels.metric_name().unwrap_or(""), notes);
        let (mut value, mut keep, mut h) = (o.f, o.keep, o.h);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
            h = None;
        }
        if o.incompatible {
            keep = false;
        }
        // Ambiguous matches are errors even when a comparison would filter them out.
        let memoized = if one_to_one && include.is_empty() {
            (keys.one_to_one_labels)(&ml.labels)
        } else {
            None
        };
        let labels = match memoized {
            Some(l) => l,
            None => Arc::new(result_labels(
                &ml.labels, &ol.labels, one_to_one, m, include,
            )),
        };
        let entry = produced.entry(sig);
        match entry {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if one_to_one {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                if !o.get_mut().insert(Labels::clone(&labels)) {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                if one_to_one {
                    v.insert(HashSet::new());
                } else {
                    v.insert(HashSet::from([Labels::clone(&labels)]));
                }
            }
        }
        if !keep {
            return Ok(());
        }
        out.push(Elem {
            h,
            labels,
            f: value,
            drop_name: ml.drop_name || drops_name(op) || return_bool,
        });
        Ok(())
    };

    for (ml, &sig) in many.iter().zip(many_ids) {
        match one_by_sig.get(&sig) {
            Some(&oi) => {
                matched_one[oi] = true;
                let ol = &one[oi];
                combine(ml, ol, ml.f, ol.f, &mut out, sig, &mut produced)?;
            }
            None => {
                // The "one" side is missing; fill it if asked to.
                if let Some(fill) = modifier.fill_rhs {
                    let synthetic = Elem {
                        h: None,
                        labels: Arc::new(match_group_labels(&ml.labels, m)),
                        f: fill,
                        drop_name: false,
                    };
                    combine(ml, &synthetic, ml.f, fill, &mut out, sig, &mut produced)?;
                }
            }
        }
    }
    if let Some(fill) = modifier.fill_lhs {
        for (oi, ol) in one.iter().enumerate() {
            if matched_one[oi] {
                continue;
            }
            let sig = one_ids[oi];
            let synthetic = Elem {
                h: None,
                labels: Arc::new(match_group_labels(&ol.labels, m)),
                f: fill,
                drop_name: false,
            };
            combine(&synthetic, ol, fill, ol.f, &mut out, sig, &mut produced)?;
        }
    }
    Ok(out)
}

/// Prometheus' `resultMetric`: the output labels of one matched pair. The name is
/// not removed here (delayed name removal flags it instead).
pub(super) fn result_labels(
    many: &Labels,
    one: &Labels,
    one_to_one: bool,
    m: &VectorMatching,
    include: &[String],
) -> Labels {
    let mut labels = if one_to_one {
        if m.on {
            keep_labels(many, &m.labels)
        } else {
            drop_labels(many, &m.labels)
        }
    } else {
        many.clone()
    };
    if !include.is_empty() {
        let mut b = labels.builder();
        for name in include {
            b.set(name, one.get(name).unwrap_or(""));
        }
        labels = b.build();
    }
    labels
}
