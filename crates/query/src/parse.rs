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
use crate::positions::CallSites;
use crate::preprocess::{rewrite, Rewritten, INFO_SELECTOR_MARKER, SMOOTHED_MARKER};
use crate::QueryError;

mod errors;
mod literals;
mod messages;
mod regex_errors;
mod type_errors;

/// Parses a query into our AST. Errors are `BadData` with a Prometheus-like text.
pub fn parse_query(input: &str) -> Result<Expr, QueryError> {
    register_duration_functions();
    let invalid_literals = literals::invalid_utf8_literals(input);
    let text = literals::with_placeholders(input, &invalid_literals);
    let (without_trims, trim_marks) = crate::trim_syntax::replace_trim_operators(&text);
    let rewritten =
        rewrite(&without_trims).map_err(|e| QueryError::BadData(errors::describe(input, &e)))?;
    let parsed =
        pp::parse(&rewritten.text).map_err(|e| QueryError::BadData(errors::describe(input, &e)))?;
    let mut conv = Converter {
        input,
        invalid_literals,
        next_id: 0,
        rewritten,
        sites: CallSites::scan(input),
        selector_starts: errors::selector_starts(input),
        next_selector: 0,
        allow_empty_selector: false,
        trim_marks,
        next_comparison: 0,
    };
    let mut expr = conv.expr(parsed)?;
    crate::positions::assign_binary_positions(&mut expr, crate::positions::first_token(input));
    literals::check_label_name_uses(&expr, &conv.invalid_literals)?;
    Ok(expr)
}

/// `step()` and `range()` (Prometheus 3.x) are scalar functions the parser crate
/// does not know; it lets us register them once per process.
fn register_duration_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::value::ValueType as PValueType;
        // Fails only on a clash with a built-in name, in which case the built-in is used.
        let _ = pp::register_extra_functions(vec![
            pp::Function::new("step", vec![], 0, PValueType::Scalar, false),
            pp::Function::new("range", vec![], 0, PValueType::Scalar, false),
        ]);
    });
}

struct Converter<'a> {
    /// The query as written, for error positions.
    input: &'a str,
    /// String literals that are not valid UTF-8, replaced by placeholders in the
    /// parsed text (see `literals`).
    invalid_literals: Vec<literals::InvalidLiteral>,
    next_id: usize,
    /// Placeholders for syntax the parser crate does not know (see `preprocess`).
    rewritten: Rewritten,
    /// Source positions of calls and aggregations, handed out in source order.
    sites: CallSites,
    /// Set while converting `info()`'s second argument.
    allow_empty_selector: bool,
    /// Byte offsets where the query's vector selectors start, in source order.
    selector_starts: Vec<usize>,
    next_selector: usize,
    /// Which `<`/`>`-family operators were trim operators (see `trim_syntax`).
    trim_marks: Vec<bool>,
    next_comparison: usize,
}

fn bad(msg: impl Into<String>) -> QueryError {
    QueryError::BadData(msg.into())
}

fn duration_ms(d: &Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Converter<'_> {
    /// Turns `<`/`>` back into the trim operator the query text had there.
    fn restore_trim(&mut self, op: BinOp) -> BinOp {
        if !matches!(op, BinOp::Lss | BinOp::Gtr | BinOp::Lte | BinOp::Gte) {
            return op;
        }
        let trim = self.trim_marks.get(self.next_comparison).copied();
        self.next_comparison += 1;
        match (op, trim) {
            (BinOp::Lss, Some(true)) => BinOp::TrimUpper,
            (BinOp::Gtr, Some(true)) => BinOp::TrimLower,
            _ => op,
        }
    }

    /// The literal a parsed string stands for, if it is an invalid-UTF-8 placeholder.
    fn invalid_literal(&self, value: &str) -> Option<&literals::InvalidLiteral> {
        self.invalid_literals
            .get(literals::placeholder_index(value)?)
    }

    /// A parsed string's value, as Prometheus' API would show it.
    fn string(&self, value: String) -> String {
        match self.invalid_literal(&value) {
            Some(lit) => lit.lossy(),
            None => value,
        }
    }

    fn id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    fn expr(&mut self, e: pp::Expr) -> Result<Expr, QueryError> {
        Ok(match e {
            pp::Expr::NumberLiteral(n) => Expr::Number(n.val),
            pp::Expr::StringLiteral(s) => Expr::String(self.string(s.val)),
            pp::Expr::Paren(p) => Expr::Paren(Box::new(self.expr(*p.expr)?)),
            pp::Expr::Unary(u) => Expr::Neg(Box::new(self.expr(*u.expr)?)),
            pp::Expr::VectorSelector(vs) => Expr::VectorSelector(self.vector_selector(vs)?),
            pp::Expr::MatrixSelector(ms) => {
                let (range, mode) = self.duration(&ms.range);
                Expr::MatrixSelector(MatrixSelector {
                    vs: self.vector_selector(ms.vs)?,
                    range,
                    mode,
                })
            }
            pp::Expr::Subquery(sq) => Expr::Subquery(Subquery {
                expr: Box::new(self.expr(*sq.expr)?),
                range: self.duration(&sq.range).0,
                step: sq.step.as_ref().map(|d| self.duration(d).0),
                offset: sq.offset.as_ref().map(|o| self.offset(o)),
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
                // Source order: the left operand's operators come first.
                let lhs = Box::new(self.expr(*b.lhs)?);
                let op = self.restore_trim(op);
                Expr::Binary(BinaryExpr {
                    op,
                    lhs,
                    rhs: Box::new(self.expr(*b.rhs)?),
                    modifier,
                    pos: Pos::default(),
                })
            }
            pp::Expr::Aggregate(a) => {
                let op_name = a.op.to_string();
                let op = agg_op(&op_name)?;
                let (pos, arg_pos) = self.sites.take(&op_name).unwrap_or_default();
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
                    pos,
                    param_pos: arg_pos.first().copied().unwrap_or(pos),
                    expr_pos: arg_pos.last().copied().unwrap_or(pos),
                })
            }
            pp::Expr::Call(c) => {
                let (pos, arg_pos) = self.sites.take(c.func.name).unwrap_or_default();
                let is_info = c.func.name == "info";
                let mut args = Vec::with_capacity(c.args.args.len() + 1);
                for (i, a) in c.args.args.into_iter().enumerate() {
                    // info()'s data-label selector may match the empty string.
                    self.allow_empty_selector = is_info && i == 1;
                    let converted = self.expr(*a);
                    self.allow_empty_selector = false;
                    args.push(converted?);
                }
                if is_info {
                    self.complete_info_selector(&mut args);
                }
                Expr::Call(Call {
                    func: c.func.name.to_string(),
                    args,
                    pos,
                    arg_pos,
                })
            }
            pp::Expr::Extension(_) => return Err(bad("unsupported expression extension")),
        })
    }

    /// `info(v)` reads `target_info` unless its selector names other info metrics;
    /// a selector with only negative name matchers reads the other `*_info` metrics.
    fn complete_info_selector(&mut self, args: &mut Vec<Expr>) {
        let default_name = || Matcher::equal(METRIC_NAME, "target_info");
        match args.get_mut(1) {
            Some(Expr::VectorSelector(vs)) => {
                let name_matchers = vs.matchers.iter().filter(|m| m.name == METRIC_NAME);
                let mut positive = name_matchers
                    .clone()
                    .filter(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex));
                if name_matchers.count() == 0 {
                    vs.matchers.push(default_name());
                } else if positive.next().is_none() {
                    // Only exclusions given: they narrow down the `*_info` metrics.
                    if let Ok(m) = Matcher::new(MatchOp::Regex, METRIC_NAME, ".+_info") {
                        vs.matchers.push(m);
                    }
                }
            }
            Some(_) => {}
            None => {
                let id = self.id();
                args.push(Expr::VectorSelector(VectorSelector {
                    name: None,
                    matchers: vec![default_name()],
                    offset: None,
                    at: None,
                    smoothed: false,
                    id,
                    pos: Pos::default(),
                }));
            }
        }
    }

    /// A parsed duration, or what the placeholder standing in its place means.
    fn duration(&self, d: &Duration) -> (DurationExpr, RangeMode) {
        let ms = duration_ms(d);
        match self.rewritten.lookup(ms) {
            Some(p) => (p.duration.clone(), p.mode),
            None => (DurationExpr::Millis(ms), RangeMode::Plain),
        }
    }

    fn offset(&self, o: &pp::Offset) -> DurationExpr {
        match o {
            pp::Offset::Pos(d) => self.duration(d).0,
            pp::Offset::Neg(d) => DurationExpr::Neg(Box::new(self.duration(d).0)),
        }
    }

    fn vector_selector(&mut self, vs: pp::VectorSelector) -> Result<VectorSelector, QueryError> {
        // Selectors are converted in source order, so this is where this one starts.
        let start = self.selector_starts.get(self.next_selector).copied();
        self.next_selector += 1;
        let at = |msg: &str| match start {
            Some(off) => bad(format!(
                "{}: parse error: {msg}",
                crate::positions::pos_of(self.input, off)
            )),
            None => bad(format!("parse error: {msg}")),
        };
        if !vs.matchers.or_matchers.is_empty() {
            return Err(at("\"or\" inside label matchers is not supported"));
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
            let name = self.string(m.name);
            if let Some(lit) = self.invalid_literal(&m.value) {
                let matcher = Matcher::with_invalid_utf8_value(op, name, lit.lossy())
                    .ok_or_else(|| literals::regex_matcher_error(self.input, lit))?;
                matchers.push(matcher);
                continue;
            }
            matchers.push(Matcher::new(op, name, m.value).map_err(|e| at(&e.to_string()))?);
        }
        // Markers left by the pre-processor (see `preprocess`).
        let smoothed = matchers.iter().any(|m| m.name == SMOOTHED_MARKER);
        matchers.retain(|m| m.name != SMOOTHED_MARKER && m.name != INFO_SELECTOR_MARKER);
        if !self.allow_empty_selector && matchers.iter().all(|m| m.matches_empty()) {
            return Err(at(
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(VectorSelector {
            name: vs.name,
            matchers,
            offset: vs.offset.as_ref().map(|o| self.offset(o)),
            at: vs.at.as_ref().map(at_modifier),
            smoothed,
            id: self.id(),
            pos: Pos::default(),
        })
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
