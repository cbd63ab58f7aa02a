//! Front-end: PromQL text → [`crate::ast::Expr`].
//!
//! Parsing is delegated to the `promql-parser` crate; this module converts its tree
//! into ours (adding `__name__` matchers, node ids, our matcher type) so the rest of
//! the engine never depends on that crate's types.

use std::time::{Duration, SystemTime};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser as pp;
use tidemark_model::{MatchOp, Matcher, METRIC_NAME};

use crate::ast::*;
use crate::QueryError;

/// Parses a query into our AST. Errors are `BadData` with a Prometheus-like text.
pub fn parse_query(input: &str) -> Result<Expr, QueryError> {
    let parsed = pp::parse(input)
        .map_err(|e| QueryError::BadData(format!("invalid parameter \"query\": {e}")))?;
    let mut conv = Converter { next_id: 0 };
    conv.expr(parsed)
}

struct Converter {
    next_id: usize,
}

fn bad(msg: impl Into<String>) -> QueryError {
    QueryError::BadData(msg.into())
}

fn duration_ms(d: &Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Converter {
    fn id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    fn expr(&mut self, e: pp::Expr) -> Result<Expr, QueryError> {
        Ok(match e {
            pp::Expr::NumberLiteral(n) => Expr::Number(n.val),
            pp::Expr::StringLiteral(s) => Expr::String(s.val),
            pp::Expr::Paren(p) => Expr::Paren(Box::new(self.expr(*p.expr)?)),
            pp::Expr::Unary(u) => Expr::Neg(Box::new(self.expr(*u.expr)?)),
            pp::Expr::VectorSelector(vs) => Expr::VectorSelector(self.vector_selector(vs)?),
            pp::Expr::MatrixSelector(ms) => Expr::MatrixSelector(MatrixSelector {
                vs: self.vector_selector(ms.vs)?,
                range: DurationExpr::Millis(duration_ms(&ms.range)),
                mode: RangeMode::Plain,
            }),
            pp::Expr::Subquery(sq) => Expr::Subquery(Subquery {
                expr: Box::new(self.expr(*sq.expr)?),
                range: DurationExpr::Millis(duration_ms(&sq.range)),
                step: sq
                    .step
                    .as_ref()
                    .map(|d| DurationExpr::Millis(duration_ms(d))),
                offset: sq.offset.as_ref().map(offset),
                at: sq.at.as_ref().map(at_modifier),
                id: self.id(),
            }),
            pp::Expr::Binary(b) => {
                let op = bin_op(&b.op.to_string())?;
                let modifier = b.modifier.map(bin_modifier).unwrap_or_default();
                let modifier = if op.is_set() {
                    BinModifier {
                        card: Cardinality::ManyToMany,
                        ..modifier
                    }
                } else {
                    modifier
                };
                Expr::Binary(BinaryExpr {
                    op,
                    lhs: Box::new(self.expr(*b.lhs)?),
                    rhs: Box::new(self.expr(*b.rhs)?),
                    modifier,
                })
            }
            pp::Expr::Aggregate(a) => {
                let op = agg_op(&a.op.to_string())?;
                let grouping = a.modifier.map(|m| match m {
                    promql_parser::parser::LabelModifier::Include(l) => Grouping {
                        without: false,
                        labels: l.labels,
                    },
                    promql_parser::parser::LabelModifier::Exclude(l) => Grouping {
                        without: true,
                        labels: l.labels,
                    },
                });
                let param = match a.param {
                    Some(p) => Some(Box::new(self.expr(*p)?)),
                    None => None,
                };
                Expr::Aggregate(AggregateExpr {
                    op,
                    expr: Box::new(self.expr(*a.expr)?),
                    param,
                    grouping,
                })
            }
            pp::Expr::Call(c) => {
                let mut args = Vec::with_capacity(c.args.args.len());
                for a in c.args.args {
                    args.push(self.expr(*a)?);
                }
                Expr::Call(Call {
                    func: c.func.name.to_string(),
                    args,
                })
            }
            pp::Expr::Extension(_) => return Err(bad("unsupported expression extension")),
        })
    }

    fn vector_selector(&mut self, vs: pp::VectorSelector) -> Result<VectorSelector, QueryError> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(bad(
                "parse error: \"or\" inside label matchers is not supported",
            ));
        }
        let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
        if let Some(name) = &vs.name {
            matchers.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in vs.matchers.matchers {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            matchers.push(
                Matcher::new(op, m.name, m.value).map_err(|e| bad(format!("parse error: {e}")))?,
            );
        }
        if matchers.iter().all(|m| m.matches_empty()) {
            return Err(bad(
                "parse error: vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(VectorSelector {
            name: vs.name,
            matchers,
            offset: vs.offset.as_ref().map(offset),
            at: vs.at.as_ref().map(at_modifier),
            id: self.id(),
        })
    }
}

fn offset(o: &pp::Offset) -> DurationExpr {
    match o {
        pp::Offset::Pos(d) => DurationExpr::Millis(duration_ms(d)),
        pp::Offset::Neg(d) => DurationExpr::Millis(-duration_ms(d)),
    }
}

fn at_modifier(a: &pp::AtModifier) -> AtModifier {
    match a {
        pp::AtModifier::Start => AtModifier::Start,
        pp::AtModifier::End => AtModifier::End,
        pp::AtModifier::At(t) => {
            AtModifier::Millis(match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => duration_ms(&d),
                Err(e) => -duration_ms(&e.duration()),
            })
        }
    }
}

fn bin_modifier(m: pp::BinModifier) -> BinModifier {
    let card = match m.card {
        pp::VectorMatchCardinality::OneToOne => Cardinality::OneToOne,
        pp::VectorMatchCardinality::ManyToOne(l) => Cardinality::ManyToOne(l.labels),
        pp::VectorMatchCardinality::OneToMany(l) => Cardinality::OneToMany(l.labels),
        pp::VectorMatchCardinality::ManyToMany => Cardinality::ManyToMany,
    };
    let matching = m.matching.map(|lm| match lm {
        pp::LabelModifier::Include(l) => VectorMatching {
            on: true,
            labels: l.labels,
        },
        pp::LabelModifier::Exclude(l) => VectorMatching {
            on: false,
            labels: l.labels,
        },
    });
    BinModifier {
        card,
        matching,
        return_bool: m.return_bool,
        fill_lhs: m.fill_values.lhs,
        fill_rhs: m.fill_values.rhs,
    }
}

fn bin_op(s: &str) -> Result<BinOp, QueryError> {
    Ok(match s {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "^" => BinOp::Pow,
        "atan2" => BinOp::Atan2,
        "==" => BinOp::Eql,
        "!=" => BinOp::Neq,
        ">" => BinOp::Gtr,
        "<" => BinOp::Lss,
        ">=" => BinOp::Gte,
        "<=" => BinOp::Lte,
        "and" => BinOp::And,
        "or" => BinOp::Or,
        "unless" => BinOp::Unless,
        other => {
            return Err(bad(format!(
                "parse error: unknown binary operator {other:?}"
            )))
        }
    })
}

fn agg_op(s: &str) -> Result<AggOp, QueryError> {
    Ok(match s {
        "sum" => AggOp::Sum,
        "avg" => AggOp::Avg,
        "count" => AggOp::Count,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "group" => AggOp::Group,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "topk" => AggOp::TopK,
        "bottomk" => AggOp::BottomK,
        "count_values" => AggOp::CountValues,
        "quantile" => AggOp::Quantile,
        "limitk" => AggOp::LimitK,
        "limit_ratio" => AggOp::LimitRatio,
        other => return Err(bad(format!("parse error: unknown aggregation {other:?}"))),
    })
}
