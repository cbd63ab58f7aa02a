//! Prometheus-style parse error texts: `1:16: parse error: unclosed left parenthesis`.
//!
//! The parser crate reports errors without a position, and for any grammar error
//! only "invalid promql query". This module locates what it can in the original
//! query text: the end of input for unclosed constructs, the stray `)`, the unknown
//! function, the malformed duration, the call (or lone argument) of a type error
//! with Prometheus' type names; for grammar errors it walks the tokens to
//! find the first one that cannot follow its predecessor, and names it the way
//! Prometheus does (`unexpected identifier "y"`, `unexpected <op:*>`,
//! `unexpected end of input`). When nothing can be located the crate's message
//! is kept as it is.

use crate::ast::Pos;
use crate::positions::{pos_of, CallSites};
use crate::preprocess::skip_string;

/// The crate's message `msg` for `input`, with a `line:col` position where one
/// can be found and Prometheus' wording where it differs.
pub(crate) fn describe(input: &str, msg: &str) -> String {
    match locate(input, msg) {
        Some((pos, text)) => format!("{pos}: parse error: {text}"),
        None => format!("parse error: {msg}"),
    }
}

fn locate(input: &str, msg: &str) -> Option<(Pos, String)> {
    let end = pos_of(input, input.len());
    match msg {
        "invalid promql query" => {
            let (pos, found) = first_unexpected(input)?;
            return Some((pos, format!("unexpected {found}")));
        }
        "no expression found in input" => return Some((Pos { line: 1, col: 1 }, msg.into())),
        // The second is our pre-processor's (see `preprocess`).
        "unclosed left parenthesis" | "unclosed left bracket" => return Some((end, msg.into())),
        "unexpected end of input inside brackets" => {
            return Some((end, "unclosed left bracket".into()))
        }
        "unexpected right parenthesis ')'" => {
            // Prometheus points just past the stray parenthesis.
            return Some((pos_of(input, unmatched_close_paren(input)? + 1), msg.into()));
        }
        _ => {}
    }
    if msg.starts_with("unexpected end of input") {
        return Some((end, msg.into()));
    }
    if let Some(name) = msg
        .strip_prefix("unknown function with name '")
        .and_then(|r| r.strip_suffix('\''))
    {
        let (pos, _) = CallSites::scan(input).take(name)?;
        return Some((pos, format!("unknown function with name {name:?}")));
    }
    if let Some(token) = msg.strip_prefix("bad number or duration syntax: ") {
        let off = find_token(input, token)?;
        return Some((
            pos_of(input, off),
            format!("bad number or duration syntax: {token:?}"),
        ));
    }
    // "expected type matrix in call to function 'rate', got vector" and
    // "expected 2 argument(s) in call to 'histogram_quantile', got 1".
    let (before, rest) = msg.split_once("in call to ")?;
    let (function, rest) = match rest.strip_prefix("function ") {
        Some(r) => ("function ", r),
        None => ("", rest),
    };
    let (name, after) = rest.strip_prefix('\'')?.split_once('\'')?;
    let (call, args) = CallSites::scan(input).take(name)?;
    let Some(expected) = before.strip_prefix("expected type ") else {
        return Some((
            call,
            format!("{before}in call to {function}{name:?}{after}"),
        ));
    };
    // A type error: Prometheus names value types in full and points at the
    // argument, which the message does not say unless there is only one.
    let got = after.strip_prefix(", got ")?;
    let pos = if args.len() == 1 { args[0] } else { call };
    Some((
        pos,
        format!(
            "expected type {} in call to function {name:?}, got {}",
            type_name(expected.trim_end()),
            type_name(got)
        ),
    ))
}

/// Prometheus' name for a value type the parser crate calls `matrix`/`vector`.
fn type_name(crate_name: &str) -> &str {
    match crate_name {
        "matrix" => "range vector",
        "vector" => "instant vector",
        other => other,
    }
}

/// Byte offset of the first `)` that closes nothing (strings and comments skipped).
fn unmatched_close_paren(input: &str) -> Option<usize> {
    let b = input.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'#' => i = input[i..].find('\n').map_or(b.len(), |n| i + n),
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Byte offset of the first token spelled `token` outside strings and comments.
fn find_token(input: &str, token: &str) -> Option<usize> {
    tokens(input)
        .into_iter()
        .find(|t| &input[t.start..t.end] == token)
        .map(|t| t.start)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Duration,
    String,
    Identifier,
    Aggregation,
    /// `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`, `bool`,
    /// `offset`, `anchored`, `smoothed`.
    Keyword,
    /// Arithmetic, comparison and set operators (`and`, `or`, `unless`, `atan2`).
    Operator,
    /// `( ) { } [ ] , : @ =` and anything the lexer would not accept.
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
];
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "anchored",
    "smoothed",
];
const WORD_OPERATORS: &[&str] = &["and", "or", "unless", "atan2"];
const SYMBOL_OPERATORS: &[&str] = &[
    "==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">",
];

/// Splits `input` into tokens; whitespace and comments are dropped.
fn tokens(input: &str) -> Vec<Token> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'#' => {
                i = input[i..].find('\n').map_or(b.len(), |n| i + n);
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                Kind::String
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                let text = &input[start..i];
                let unit = text.bytes().any(|c| b"smhdwy".contains(&c));
                if unit && !text.starts_with("0x") && !text.contains(['e', 'E', '.']) {
                    Kind::Duration
                } else {
                    Kind::Number
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = input[start..i].to_ascii_lowercase();
                if AGGREGATIONS.contains(&word.as_str()) {
                    Kind::Aggregation
                } else if KEYWORDS.contains(&word.as_str()) {
                    Kind::Keyword
                } else if WORD_OPERATORS.contains(&word.as_str()) {
                    Kind::Operator
                } else if word == "inf" || word == "nan" {
                    Kind::Number
                } else {
                    Kind::Identifier
                }
            }
            _ => match SYMBOL_OPERATORS
                .iter()
                .find(|op| input[i..].starts_with(**op))
            {
                Some(op) => {
                    i += op.len();
                    Kind::Operator
                }
                None => {
                    i += input[i..].chars().next().map_or(1, char::len_utf8);
                    Kind::Punct
                }
            },
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// What kind of parenthesis is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paren {
    /// `f(`: arguments separated by commas, may be empty.
    Call,
    /// `(expr)`.
    Group,
}

/// The first token that cannot follow what came before it, as a position and a
/// Prometheus-style description, or `None` when the walk finds nothing wrong.
///
/// Not a parser: it tracks only whether an operand or an operator is expected and
/// which parentheses are open, skipping label matchers, ranges and label lists.
fn first_unexpected(input: &str) -> Option<(Pos, String)> {
    let toks = tokens(input);
    let text = |t: &Token| &input[t.start..t.end];
    let mut parens: Vec<Paren> = Vec::new();
    let mut want_operand = true;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let next = toks.get(i + 1);
        let next_is = |s: &str| next.is_some_and(|n| text(n) == s);
        let bad = || Some((pos_of(input, t.start), describe_token(input, &t)));
        if want_operand {
            match (t.kind, text(&t)) {
                (Kind::Number | Kind::String | Kind::Duration, _) => want_operand = false,
                (Kind::Operator, "+" | "-") => {}
                // Binary-operator fill modifiers (Prometheus 3.x): `+ fill(0) m`.
                (Kind::Identifier, "fill" | "fill_left" | "fill_right") if next_is("(") => {
                    i = skip_group(input, &toks, i + 1)? - 1;
                }
                (Kind::Identifier, _) if next_is("(") => {
                    parens.push(Paren::Call);
                    i += 1;
                    // `time()`: an empty argument list.
                    if toks.get(i + 1).is_some_and(|n| text(n) == ")") {
                        parens.pop();
                        i += 1;
                        want_operand = false;
                    }
                }
                (Kind::Identifier, _) => want_operand = false,
                (Kind::Aggregation, _) => {
                    // `sum by (a) (`, or `sum (`.
                    let mut j = i + 1;
                    if toks.get(j).is_some_and(|n| n.kind == Kind::Keyword) {
                        j = match skip_group(input, &toks, j + 1) {
                            Some(j) => j,
                            None => return grouping_without_paren(input, &toks, j + 1),
                        };
                    }
                    if toks.get(j).is_none_or(|n| text(n) != "(") {
                        return bad_at(input, &toks, j);
                    }
                    parens.push(Paren::Call);
                    i = j;
                }
                (Kind::Punct, "(") => parens.push(Paren::Group),
                (Kind::Punct, "{") => {
                    i = skip_group(input, &toks, i)? - 1;
                    want_operand = false;
                }
                // Binary-operator modifiers: `== bool`, `+ on(a) group_left(b)`.
                (Kind::Keyword, "bool") => {}
                (Kind::Keyword, "on" | "ignoring" | "group_left" | "group_right") => {
                    if next_is("(") {
                        i = skip_group(input, &toks, i + 1)? - 1;
                    }
                }
                _ => return bad(),
            }
        } else {
            match (t.kind, text(&t)) {
                (Kind::Operator, _) => want_operand = true,
                (Kind::Punct, "[") => i = skip_group(input, &toks, i)? - 1,
                (Kind::Punct, "{") if toks[i - 1].kind == Kind::Identifier => {
                    i = skip_group(input, &toks, i)? - 1
                }
                (Kind::Punct, ")") => {
                    parens.pop()?;
                }
                (Kind::Punct, ",") if parens.last() == Some(&Paren::Call) => want_operand = true,
                (Kind::Keyword, "offset") => {
                    i += usize::from(next_is("-"));
                    match toks.get(i + 1) {
                        Some(n) if matches!(n.kind, Kind::Duration | Kind::Number) => i += 1,
                        // A duration expression: `offset (1h / 2)`.
                        Some(n) if &input[n.start..n.end] == "(" => {
                            i = skip_group(input, &toks, i + 1)? - 1
                        }
                        _ => return bad_at(input, &toks, i + 1),
                    }
                }
                (Kind::Keyword, "anchored" | "smoothed") => {}
                (Kind::Keyword, "by" | "without") => match skip_group(input, &toks, i + 1) {
                    Some(j) => i = j - 1,
                    None => return grouping_without_paren(input, &toks, i + 1),
                },
                (Kind::Punct, "@") => {
                    i += 1;
                    match toks.get(i) {
                        Some(n) if n.kind == Kind::Number => {}
                        Some(n)
                            if matches!(text(n), "start" | "end") && toks.get(i + 2).is_some() =>
                        {
                            i += 2
                        }
                        _ => return bad_at(input, &toks, i),
                    }
                }
                _ => return bad(),
            }
        }
        i += 1;
    }
    if want_operand || !parens.is_empty() {
        return Some((pos_of(input, input.len()), "end of input".into()));
    }
    None
}

/// Index just past the bracketed group whose opening token is at `open`
/// (`(…)`, `{…}` or `[…]`); `None` if it is not one or never closes.
fn skip_group(input: &str, toks: &[Token], open: usize) -> Option<usize> {
    let close = match &input[toks.get(open)?.start..toks[open].end] {
        "(" => ")",
        "{" => "}",
        "[" => "]",
        _ => return None,
    };
    let at = toks[open + 1..]
        .iter()
        .position(|t| &input[t.start..t.end] == close)?;
    Some(open + 1 + at + 1)
}

/// The token at `i` (or the end of input) as the unexpected one.
fn bad_at(input: &str, toks: &[Token], i: usize) -> Option<(Pos, String)> {
    Some(match toks.get(i) {
        Some(t) => (pos_of(input, t.start), describe_token(input, t)),
        None => (pos_of(input, input.len()), "end of input".into()),
    })
}

/// `by`/`without` not followed by a label list, worded like Prometheus.
fn grouping_without_paren(input: &str, toks: &[Token], i: usize) -> Option<(Pos, String)> {
    let (pos, found) = bad_at(input, toks, i)?;
    Some((pos, format!("{found} in grouping opts, expected \"(\"")))
}

/// How Prometheus' parser names a token in "unexpected …".
fn describe_token(input: &str, t: &Token) -> String {
    let text = &input[t.start..t.end];
    match t.kind {
        Kind::Number => format!("number {text:?}"),
        Kind::Duration => format!("duration {text:?}"),
        Kind::String => format!("string {text:?}"),
        Kind::Identifier => format!("identifier {text:?}"),
        Kind::Aggregation => format!("<aggr:{text}>"),
        Kind::Keyword => format!("<{text}>"),
        Kind::Operator => format!("<op:{text}>"),
        Kind::Punct => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each query with the text Prometheus (2.42's API, same parser messages as
    /// 3.x for these) gives, where our crate-based parser can reproduce it.
    #[test]
    fn common_mistakes_read_like_prometheus() {
        let cases = [
            // Unclosed parenthesis: Prometheus points at the end of input.
            (
                "sum(rate(x[5m])",
                "unclosed left parenthesis",
                "1:16: parse error: unclosed left parenthesis",
            ),
            (
                "(",
                "unclosed left parenthesis",
                "1:2: parse error: unclosed left parenthesis",
            ),
            (
                "rate(x[5m]))",
                "unexpected right parenthesis ')'",
                "1:13: parse error: unexpected right parenthesis ')'",
            ),
            (
                "foo(x)",
                "unknown function with name 'foo'",
                "1:1: parse error: unknown function with name \"foo\"",
            ),
            (
                "x[5m",
                "unexpected end of input inside brackets",
                "1:5: parse error: unclosed left bracket",
            ),
            (
                "x{a=\"b\"",
                "unexpected end of input inside braces",
                "1:8: parse error: unexpected end of input inside braces",
            ),
            (
                "x offset",
                "unexpected end of input in offset, expected duration",
                "1:9: parse error: unexpected end of input in offset, expected duration",
            ),
            // Missing operand.
            (
                "1 +",
                "invalid promql query",
                "1:4: parse error: unexpected end of input",
            ),
            (
                "1 + * 2",
                "invalid promql query",
                "1:5: parse error: unexpected <op:*>",
            ),
            (
                "x == == y",
                "invalid promql query",
                "1:6: parse error: unexpected <op:==>",
            ),
            (
                "x y",
                "invalid promql query",
                "1:3: parse error: unexpected identifier \"y\"",
            ),
            (
                "sum(x) by",
                "invalid promql query",
                "1:10: parse error: unexpected end of input in grouping opts, expected \"(\"",
            ),
            (
                "sum by x (y)",
                "invalid promql query",
                "1:8: parse error: unexpected identifier \"x\" in grouping opts, expected \"(\"",
            ),
            (
                "",
                "no expression found in input",
                "1:1: parse error: no expression found in input",
            ),
            (
                "histogram_quantile(0.9)",
                "expected 2 argument(s) in call to 'histogram_quantile', got 1",
                "1:1: parse error: expected 2 argument(s) in call to \"histogram_quantile\", got 1",
            ),
        ];
        for (query, crate_msg, want) in cases {
            assert_eq!(describe(query, crate_msg), want, "{query}");
        }
    }

    /// Through the real parser crate, so a change of its wording shows up here.
    #[test]
    fn parse_query_reports_positions() {
        for (query, want) in [
            (
                "sum(rate(x[5m])",
                "1:16: parse error: unclosed left parenthesis",
            ),
            (
                "rate(x[5m]))",
                "1:13: parse error: unexpected right parenthesis ')'",
            ),
            (
                "foo(x)",
                "1:1: parse error: unknown function with name \"foo\"",
            ),
            ("1 + * 2", "1:5: parse error: unexpected <op:*>"),
            (
                "rate(x)",
                "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            ("x[5m", "1:5: parse error: unclosed left bracket"),
        ] {
            let err = crate::parse_query(query).unwrap_err();
            assert_eq!(err, crate::QueryError::BadData(want.into()), "{query}");
        }
    }

    /// Where we know the position but not Prometheus' exact wording.
    #[test]
    fn other_messages_get_a_position() {
        assert_eq!(
            describe("x[5x]", "bad number or duration syntax: 5x"),
            "1:3: parse error: bad number or duration syntax: \"5x\""
        );
        // Which argument has the wrong type is known only for one-argument calls.
        assert_eq!(
            describe(
                "  round(x, y)",
                "expected type scalar in call to function 'round', got vector"
            ),
            "1:3: parse error: expected type scalar in call to function \"round\", got instant vector"
        );
        // Multi-line queries count lines.
        assert_eq!(
            describe("sum(\n  m\n) +", "invalid promql query"),
            "3:4: parse error: unexpected end of input"
        );
    }

    #[test]
    fn valid_looking_token_streams_keep_the_crate_message() {
        for q in [
            "sum by (a) (rate(m{x=\"(\"}[5m] offset -1m)) / on(a) group_left(b) time()",
            "m @ start() + 1 and bool m[5m:1m]",
            "topk(3, m) without (b)",
            "m + fill(0) m offset (1h / 2)",
        ] {
            assert_eq!(first_unexpected(q), None, "{q}");
            assert_eq!(describe(q, "some message"), "parse error: some message");
        }
    }
}
