//! One binary operation on two sample values, either of which may be a native
//! histogram (Prometheus' `vectorElemBinop`).
//!
//! Histograms support `+`/`-` with each other, `*` with a float on either side,
//! `/` by a float, and `==`/`!=` with each other (a filter keeping the left
//! histogram). Every other combination yields no sample and an info annotation.

use std::sync::Arc;

use tidemark_model::FloatHistogram;

use super::binary::float_binop;
use crate::ast::BinOp;
use crate::functions::native_histogram::notes::{self, Operation};
use crate::functions::native_histogram::{self as nh, arith, trim, Combined, Incompatible};

/// A sample value: a float, or a histogram when `h` is set.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    pub f: f64,
    pub h: Option<&'a Arc<FloatHistogram>>,
}

/// The outcome of one element operation.
pub(super) struct Outcome {
    pub f: f64,
    pub h: Option<Arc<FloatHistogram>>,
    /// For comparisons: whether the condition held; otherwise whether there is a result.
    pub keep: bool,
    /// The operand types do not go together: no result at all, not even with `bool`.
    pub incompatible: bool,
}

/// An annotation raised by an element operation: `(is_warning, text)`.
pub(super) type Note = (bool, String);

/// `l op r`. `metric` names the left operand's series for warnings.
pub(super) fn elem_binop(
    op: BinOp,
    l: Operand<'_>,
    r: Operand<'_>,
    metric: &str,
    notes_out: &mut Vec<Note>,
) -> Outcome {
    let none = Outcome {
        f: 0.0,
        h: None,
        keep: false,
        incompatible: true,
    };
    let hist = |h: FloatHistogram| Outcome {
        f: 0.0,
        h: Some(Arc::new(h)),
        keep: true,
        incompatible: false,
    };
    match (l.h, r.h) {
        (None, None) => {
            let (f, keep) = float_binop(op, l.f, r.f);
            Outcome {
                f,
                h: None,
                keep,
                incompatible: false,
            }
        }
        (None, Some(rh)) => match op {
            BinOp::Mul => hist(nh::scale(rh, l.f)),
            _ => {
                incompatible(op, "float", "histogram", notes_out);
                none
            }
        },
        (Some(lh), None) => match op {
            BinOp::Mul => hist(nh::scale(lh, r.f)),
            BinOp::Div => hist(nh::divide(lh, r.f)),
            BinOp::TrimUpper => hist(trim::trim(lh, r.f, trim::Keep::Below)),
            BinOp::TrimLower => hist(trim::trim(lh, r.f, trim::Keep::Above)),
            _ => {
                incompatible(op, "histogram", "float", notes_out);
                none
            }
        },
        (Some(lh), Some(rh)) => match op {
            BinOp::Add | BinOp::Sub => {
                let (res, operation) = if op == BinOp::Add {
                    (nh::add(lh, rh), Operation::Addition)
                } else {
                    (nh::sub(lh, rh), Operation::Subtraction)
                };
                match res {
                    Ok(Combined {
                        h,
                        counter_reset_collision,
                        custom_buckets_reconciled,
                    }) => {
                        if counter_reset_collision {
                            notes_out.push((true, notes::counter_reset_collision(operation)));
                        }
                        if custom_buckets_reconciled {
                            notes_out.push((false, notes::custom_buckets_reconciled(operation)));
                        }
                        hist(h)
                    }
                    Err(Incompatible::MixedSchemas) => {
                        notes_out.push((true, notes::mixed_exponential_custom(metric)));
                        none
                    }
                }
            }
            BinOp::Eql | BinOp::Neq => {
                let equal = arith::equal(lh, rh);
                Outcome {
                    f: 0.0,
                    h: Some(lh.clone()),
                    keep: equal == (op == BinOp::Eql),
                    incompatible: false,
                }
            }
            _ => {
                incompatible(op, "histogram", "histogram", notes_out);
                none
            }
        },
    }
}

fn incompatible(op: BinOp, lhs: &str, rhs: &str, notes_out: &mut Vec<Note>) {
    notes_out.push((
        false,
        notes::incompatible_types_in_binop(lhs, op.as_str(), rhs),
    ));
}
