//! Tidemark's own PromQL syntax tree.
//!
//! The evaluator works only on these types, never on a parser crate's, so the
//! parser front-end can be swapped or extended (duration expressions, `anchored` /
//! `smoothed` range selectors) without touching evaluation.

use tidemark_model::Matcher;

/// A duration that may be computed from the query's step and range (`[5m+1m]`,
/// `offset step()`); resolved once per query, before evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A literal, in milliseconds.
    Millis(i64),
    /// A bare number, in seconds (`[1800]`, `[60*30]`).
    Seconds(f64),
    /// `step()`: the query step.
    Step,
    /// `range()`: the query range (`end - start`).
    Range,
    Neg(Box<DurationExpr>),
    Binary(DurationOp, Box<DurationExpr>, Box<DurationExpr>),
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// `@ <time>`, `@ start()`, `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtModifier {
    Millis(i64),
    Start,
    End,
}

/// How a range selector picks its samples (Prometheus 3.x extended range selectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangeMode {
    /// Samples in the left-open window `(t-range, t]`.
    #[default]
    Plain,
    /// `anchored`: the window also includes the last sample before its start.
    Anchored,
    /// `smoothed`: boundaries are interpolated between neighbouring samples.
    Smoothed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name when written as an identifier; also present in `matchers`.
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    pub offset: Option<DurationExpr>,
    pub at: Option<AtModifier>,
    /// `metric smoothed`: the value is interpolated between the samples around
    /// the evaluation time (Prometheus 3.x).
    pub smoothed: bool,
    /// Unique within one parsed query; keys the evaluator's per-node caches.
    pub id: usize,
    /// Where the selector starts, for annotation texts (approximate where the
    /// query text gives no call site to anchor it).
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    pub vs: VectorSelector,
    pub range: DurationExpr,
    pub mode: RangeMode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subquery {
    pub expr: Box<Expr>,
    pub range: DurationExpr,
    /// `None` means the engine's default subquery step.
    pub step: Option<DurationExpr>,
    pub offset: Option<DurationExpr>,
    pub at: Option<AtModifier>,
    pub id: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    /// `</`: a histogram with only the observations below the right operand.
    TrimUpper,
    /// `>/`: a histogram with only the observations above the right operand.
    TrimLower,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
            BinOp::TrimUpper => "</",
            BinOp::TrimLower => ">/",
        }
    }
}

/// Which side may have many series per match group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cardinality {
    #[default]
    OneToOne,
    /// `group_left(extra labels)`.
    ManyToOne(Vec<String>),
    /// `group_right(extra labels)`.
    OneToMany(Vec<String>),
    /// Set operators.
    ManyToMany,
}

/// `on(...)` (`on == true`) or `ignoring(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    pub on: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BinModifier {
    pub card: Cardinality,
    pub matching: Option<VectorMatching>,
    pub return_bool: bool,
    /// `fill`/`fill_left`: value used when the left side has no match.
    pub fill_lhs: Option<f64>,
    /// `fill`/`fill_right`: value used when the right side has no match.
    pub fill_rhs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    pub modifier: BinModifier,
    /// Where the expression starts (its left operand), for annotation texts;
    /// approximate for right operands that are themselves binary expressions.
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    TopK,
    BottomK,
    CountValues,
    Quantile,
    LimitK,
    LimitRatio,
}

/// `by (...)` (`without == false`) or `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub op: AggOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Option<Grouping>,
    /// Where the aggregation and its parameter start, for annotation texts.
    pub pos: Pos,
    pub param_pos: Pos,
    /// Where the aggregated expression starts.
    pub expr_pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: String,
    pub args: Vec<Expr>,
    /// Where the call and each argument start, for annotation texts.
    pub pos: Pos,
    pub arg_pos: Vec<Pos>,
}

/// A 1-based source position, printed `line:col` as in Prometheus annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    String(String),
    VectorSelector(VectorSelector),
    MatrixSelector(MatrixSelector),
    Subquery(Subquery),
    /// Unary minus (unary plus is dropped by the parser).
    Neg(Box<Expr>),
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
    Paren(Box<Expr>),
}

/// The static type of an expression, as the PromQL type checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    String,
    Vector,
    Matrix,
}

impl Expr {
    /// Strips redundant parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(e) => e.unparen(),
            e => e,
        }
    }
}
