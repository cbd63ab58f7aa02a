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

use super::type_errors;
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
    // Our pre-processor's word for what follows `offset` or sits in `[…]`, and the
    // lexer's inside braces: where the token walk finds the mistake, it says it as
    // Prometheus does.
    if msg.ends_with(" in duration expression")
        || msg.starts_with("unexpected character inside braces")
    {
        if let Some((pos, found)) = first_unexpected(input) {
            return Some((pos, format!("unexpected {found}")));
        }
    }
    if let Some(found) = super::messages::locate(input, msg) {
        return Some(found);
    }
    if let Some(found) = aggregation_type_error(input, msg) {
        return Some(found);
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
        // Our pre-processor quotes the token, the crate does not.
        let token = token.trim_matches('"');
        let off = find_token(input, token)?;
        // Go's lexer has its own wording for the range of a selector.
        let what = match input[..off].trim_end().ends_with('[') {
            true => "duration",
            false => "number or duration",
        };
        return Some((
            pos_of(input, off),
            format!("bad {what} syntax: {:?}", go_lexed_prefix(token)),
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
    // argument, which the message does not say.
    let got = after.strip_prefix(", got ")?;
    let expected = expected.trim_end();
    let pos = match args.len() {
        1 => args[0],
        _ => type_errors::call_argument(input, name, expected, got)
            .map_or(call, |off| pos_of(input, off)),
    };
    Some((
        pos,
        format!(
            "expected type {} in call to function {name:?}, got {}",
            type_name(expected),
            type_name(got)
        ),
    ))
}

/// "expected type vector in aggregation expression, got matrix": Prometheus calls
/// the first argument of `topk(k, v)` the "aggregation parameter".
fn aggregation_type_error(input: &str, msg: &str) -> Option<(Pos, String)> {
    let (expected, got) = msg
        .strip_prefix("expected type ")?
        .split_once(" in aggregation expression, got ")?;
    let off = type_errors::aggregation_argument(input, expected, got)?;
    let role = if expected == "vector" {
        "expression"
    } else {
        "parameter"
    };
    Some((
        pos_of(input, off),
        format!(
            "expected type {} in aggregation {role}, got {}",
            type_name(expected),
            type_name(got)
        ),
    ))
}

/// How much of a malformed number or duration Go's lexer has read when it gives
/// up, which is what Prometheus quotes: the digits of `5x`, but all of `5mx`
/// (a complete duration, then one character too many).
fn go_lexed_prefix(token: &str) -> &str {
    let b = token.as_bytes();
    let digits_from = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let units = |i: usize, allowed: &[u8]| match b.get(i) {
        Some(c) if allowed.contains(c) => Some(i + 1 + usize::from(b.get(i + 1) == Some(&b's'))),
        _ => None,
    };
    let mut i = digits_from(0);
    if i == 0 || i == b.len() || !b[i].is_ascii_alphabetic() {
        return token;
    }
    let Some(mut i2) = units(i, b"smhdwy") else {
        return &token[..i];
    };
    loop {
        i = digits_from(i2);
        if i == i2 {
            break;
        }
        match units(i, b"smhdw") {
            Some(next) => i2 = next,
            None => return &token[..i],
        }
    }
    let end = i2 + token[i2..].chars().next().map_or(0, char::len_utf8);
    &token[..end]
}

/// Prometheus' name for a value type the parser crate calls `matrix`/`vector`.
pub(super) fn type_name(crate_name: &str) -> &str {
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
pub(super) enum Kind {
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
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) const AGGREGATIONS: &[&str] = &[
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
pub(super) fn tokens(input: &str) -> Vec<Token> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_brackets = false;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b'[' => in_brackets = true,
            b']' => in_brackets = false,
            _ => {}
        }
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
            // Inside `[…]` a colon separates a subquery's range and step.
            b':' if in_brackets => {
                i += 1;
                Kind::Punct
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

/// Byte offsets where vector selectors start (a metric name, or a `{` without
/// one), in source order: label lists of `by`, `on` and the like, function and
/// aggregation names, and modifiers are left out.
pub(super) fn selector_starts(input: &str) -> Vec<usize> {
    let toks = tokens(input);
    let text = |j: usize| &input[toks[j].start..toks[j].end];
    let mut out = Vec::new();
    let mut j = 0;
    while j < toks.len() {
        let next = toks.get(j + 1).map(|_| text(j + 1));
        match toks[j].kind {
            // A label list: skip it.
            Kind::Keyword if next == Some("(") => {
                j = skip_group(input, &toks, j + 1).unwrap_or(toks.len());
                continue;
            }
            Kind::Identifier if matches!(next, Some("(")) => {}
            Kind::Identifier if j > 0 && text(j - 1) == "@" => {}
            Kind::Identifier => out.push(toks[j].start),
            Kind::Punct if text(j) == "{" => {
                if j == 0 || toks[j - 1].kind != Kind::Identifier {
                    out.push(toks[j].start);
                }
                j = skip_group(input, &toks, j).unwrap_or(toks.len());
                continue;
            }
            _ => {}
        }
        j += 1;
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
    /// `sum(`, `topk(`: like a call; `grouped` when `by`/`without` came first.
    Aggregation { grouped: bool },
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
    // Right after the `)` of an aggregation without `by`/`without` before it.
    let mut grouping_allowed = false;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let after_aggregation = std::mem::take(&mut grouping_allowed);
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
                        j = match grouping_labels(input, &toks, j + 1) {
                            Ok(Some(j)) => j,
                            Ok(None) => return grouping_without_paren(input, &toks, j + 1),
                            Err(found) => return Some(found),
                        };
                    }
                    if toks.get(j).is_none_or(|n| text(n) != "(") {
                        return in_context(bad_at(input, &toks, j), "in aggregation");
                    }
                    parens.push(Paren::Aggregation { grouped: j > i + 1 });
                    i = j;
                }
                (Kind::Punct, "(") => parens.push(Paren::Group),
                (Kind::Punct, "{") => {
                    i = match label_matchers(input, &toks, i) {
                        Ok(end) => end - 1,
                        Err(found) => return Some(found),
                    };
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
                    i = match label_matchers(input, &toks, i) {
                        Ok(end) => end - 1,
                        Err(found) => return Some(found),
                    };
                }
                (Kind::Punct, ")") => {
                    grouping_allowed = parens.pop()? == Paren::Aggregation { grouped: false };
                }
                (Kind::Punct, ",")
                    if matches!(parens.last(), Some(Paren::Call | Paren::Aggregation { .. })) =>
                {
                    want_operand = true
                }
                (Kind::Keyword, "offset") => {
                    i += usize::from(next_is("-"));
                    match toks.get(i + 1) {
                        Some(n) if matches!(n.kind, Kind::Duration | Kind::Number) => i += 1,
                        // A duration expression: `offset (1h / 2)`.
                        Some(n) if &input[n.start..n.end] == "(" => {
                            i = skip_group(input, &toks, i + 1)? - 1
                        }
                        _ => {
                            let found = bad_at(input, &toks, i + 1);
                            return in_context(found, "in offset, expected duration");
                        }
                    }
                }
                (Kind::Keyword, "anchored" | "smoothed") => {}
                (Kind::Keyword, "by" | "without") if !after_aggregation => return bad(),
                (Kind::Keyword, "by" | "without") => match grouping_labels(input, &toks, i + 1) {
                    Ok(Some(j)) => i = j - 1,
                    Ok(None) => return grouping_without_paren(input, &toks, i + 1),
                    Err(found) => return Some(found),
                },
                (Kind::Punct, "@") => {
                    i += 1;
                    i += usize::from(toks.get(i).is_some_and(|n| matches!(text(n), "-" | "+")));
                    match toks.get(i) {
                        Some(n) if n.kind == Kind::Number => {}
                        // `start()`: Prometheus points past the word when its `()` is missing.
                        Some(n)
                            if matches!(text(n), "start" | "end")
                                && toks.get(i + 2).is_some_and(|c| text(c) == ")") =>
                        {
                            i += 2
                        }
                        Some(n) if matches!(text(n), "start" | "end") => {
                            let found = bad_at(input, &toks, i + 1);
                            return in_context(found, "in @, expected timestamp");
                        }
                        _ => {
                            return in_context(bad_at(input, &toks, i), "in @, expected timestamp")
                        }
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

/// `found` with the grammar rule Prometheus names after it.
fn in_context(found: Option<(Pos, String)>, context: &str) -> Option<(Pos, String)> {
    found.map(|(pos, what)| (pos, format!("{what} {context}")))
}

/// Checks the label matchers of the `{` at `open`: `name op "value"` separated by
/// commas. Returns the index past the `}`, or the first misplaced token worded
/// like Prometheus after "unexpected " (its lexer reads every word inside braces
/// as an identifier).
fn label_matchers(input: &str, toks: &[Token], open: usize) -> Result<usize, (Pos, String)> {
    let text = |j: usize| &input[toks[j].start..toks[j].end];
    let is_word = |j: usize| {
        matches!(
            toks[j].kind,
            Kind::Identifier | Kind::Keyword | Kind::Aggregation | Kind::Operator
        ) && text(j).starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    };
    let unexpected = |j: usize, expected: &str| -> (Pos, String) {
        let what = if is_word(j) {
            format!("identifier {:?}", text(j))
        } else {
            describe_token(input, &toks[j])
        };
        let found = format!("{what} in label matching, expected {expected}");
        (pos_of(input, toks[j].start), found)
    };
    // A character Go's lexer does not accept inside braces at all.
    let stray = |j: usize| -> (Pos, String) {
        let c = text(j).chars().next().unwrap_or(' ');
        (
            pos_of(input, toks[j].start),
            format!("character inside braces: {c:?}"),
        )
    };
    let lexable = |j: usize| {
        is_word(j)
            || toks[j].kind == Kind::String
            || matches!(text(j), "=" | "!=" | "=~" | "!~" | "," | "}")
    };
    // End of input inside the braces is the crate's own message.
    let end = || Ok(toks.len() + 1);
    let mut j = open + 1;
    loop {
        let Some(_) = toks.get(j) else { return end() };
        match text(j) {
            "}" => return Ok(j + 1),
            _ if !lexable(j) => return Err(stray(j)),
            _ if is_word(j) || toks[j].kind == Kind::String => {}
            _ => return Err(unexpected(j, "identifier or \"}\"")),
        }
        j += 1;
        let Some(_) = toks.get(j) else { return end() };
        match text(j) {
            "=" | "!=" | "=~" | "!~" => {}
            // A quoted metric name alone (Prometheus 3.x): `{"name"}`.
            "," | "}" if toks[j - 1].kind == Kind::String => {
                if text(j) == "}" {
                    return Ok(j + 1);
                }
                j += 1;
                continue;
            }
            _ if !lexable(j) => return Err(stray(j)),
            _ => return Err(unexpected(j, "label matching operator")),
        }
        j += 1;
        let Some(_) = toks.get(j) else { return end() };
        match toks[j].kind {
            Kind::String => {}
            _ if !lexable(j) => return Err(stray(j)),
            _ => return Err(unexpected(j, "string")),
        }
        j += 1;
        let Some(_) = toks.get(j) else { return end() };
        match text(j) {
            "," => j += 1,
            "}" => return Ok(j + 1),
            _ if !lexable(j) => return Err(stray(j)),
            _ => return Err(unexpected(j, "\",\" or \"}\"")),
        }
    }
}

/// Checks the label list of `by (…)`/`without (…)` at `open`: labels separated by
/// commas. `Ok(None)` when there is no `(`; else the index past the `)`, or the
/// first misplaced token worded like Prometheus after "unexpected ".
fn grouping_labels(
    input: &str,
    toks: &[Token],
    open: usize,
) -> Result<Option<usize>, (Pos, String)> {
    let text = |j: usize| &input[toks[j].start..toks[j].end];
    if toks.get(open).is_none_or(|_| text(open) != "(") {
        return Ok(None);
    }
    let is_label = |j: usize| {
        toks[j].kind == Kind::String
            || text(j).starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    };
    let unexpected = |j: usize, expected: &str| {
        let what = describe_token(input, &toks[j]);
        let found = format!("{what} in grouping opts, expected {expected}");
        (pos_of(input, toks[j].start), found)
    };
    let mut j = open + 1;
    loop {
        let Some(_) = toks.get(j) else {
            return Ok(Some(toks.len() + 1));
        };
        match text(j) {
            ")" => return Ok(Some(j + 1)),
            _ if is_label(j) => {}
            _ => return Err(unexpected(j, "label")),
        }
        j += 1;
        let Some(_) = toks.get(j) else {
            return Ok(Some(toks.len() + 1));
        };
        match text(j) {
            "," => j += 1,
            ")" => return Ok(Some(j + 1)),
            _ => return Err(unexpected(j, "\",\" or \")\"")),
        }
    }
}

/// `by`/`without` not followed by a label list, worded like Prometheus.
fn grouping_without_paren(input: &str, toks: &[Token], i: usize) -> Option<(Pos, String)> {
    let (pos, found) = bad_at(input, toks, i)?;
    Some((pos, format!("{found} in grouping opts, expected \"(\"")))
}

/// How Prometheus' parser names a token in "unexpected …".
pub(super) fn describe_token(input: &str, t: &Token) -> String {
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
            // Our converter's own errors point at their selector.
            (
                r#"1 + sum(x{a="b" or c="d"})"#,
                "1:9: parse error: \"or\" inside label matchers is not supported",
            ),
        ] {
            let err = crate::parse_query(query).unwrap_err();
            assert_eq!(err, crate::QueryError::BadData(want.into()), "{query}");
        }
    }

    /// Every prefix of these queries, and each with one character removed, is
    /// answered without a panic (the error locators index tokens and texts).
    #[test]
    fn truncated_and_mangled_queries_never_panic() {
        let queries = [
            r#"sum by (a) (rate(m{x=~"a{b}", y!="\xff"}[5m:1m] offset -1m @ start())) / on(a) group_left(b) topk(3, m)"#,
            r#"label_replace(round(x, y), "d\xfe", "$1", "s", "(.*)") + quantile_over_time(x[5m], 0.5) and bool 1 == 1"#,
            r#"count_values("v", -"a") or absent(x{a b}) unless histogram_quantile("a", x) # comment"#,
            "x offset 1m offset 2m @ 1 @ 2 + (x and 1) + x[0s] + sum(x) by (a) by (b) + {}",
        ];
        for q in queries {
            let bounds: Vec<usize> = q.char_indices().map(|(i, _)| i).collect();
            for &end in &bounds {
                let _ = crate::parse_query(&q[..end]);
                let next = q[end..].chars().next().map_or(0, char::len_utf8);
                let _ = crate::parse_query(&format!("{}{}", &q[..end], &q[end + next..]));
            }
        }
    }

    #[test]
    fn selectors_are_found_in_source_order() {
        let q = r#"sum by (a) (rate(m{x="{"}[5m])) + on(b) group_left(c) {y="1"} @ start() + x offset 1m"#;
        let starts: Vec<&str> = selector_starts(q).iter().map(|&s| &q[s..s + 2]).collect();
        assert_eq!(starts, vec!["m{", "{y", "x "]);
    }

    /// Grammar errors inside label matchers, groupings and modifiers, through the
    /// parser crate, with Prometheus 2.42's texts.
    #[test]
    fn misplaced_tokens_are_named_in_their_context() {
        for (query, want) in [
            (
                "x{a b}",
                "1:5: parse error: unexpected identifier \"b\" in label matching, expected label matching operator",
            ),
            (
                "x{a=\"b\" c=\"d\"}",
                "1:9: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\"",
            ),
            (
                "x{=a}",
                "1:3: parse error: unexpected \"=\" in label matching, expected identifier or \"}\"",
            ),
            (
                "x{a=}",
                "1:5: parse error: unexpected \"}\" in label matching, expected string",
            ),
            (
                "x{a=1}",
                "1:5: parse error: unexpected character inside braces: '1'",
            ),
            ("sum(x) by (a) by (b)", "1:15: parse error: unexpected <by>"),
            ("rate(x[5m]) by (a)", "1:13: parse error: unexpected <by>"),
            (
                "sum by (a) x",
                "1:12: parse error: unexpected identifier \"x\" in aggregation",
            ),
            (
                "x @",
                "1:4: parse error: unexpected end of input in @, expected timestamp",
            ),
            (
                "x offset foo",
                "1:10: parse error: unexpected identifier \"foo\" in offset, expected duration",
            ),
            (
                "sum by (1) (x)",
                "1:9: parse error: unexpected number \"1\" in grouping opts, expected label",
            ),
            (
                "sum(x) without (a b)",
                "1:19: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\"",
            ),
            (
                "x[5m] @ start",
                "1:14: parse error: unexpected end of input in @, expected timestamp",
            ),
            (
                "x[5m] offset -",
                "1:15: parse error: unexpected end of input in offset, expected duration",
            ),
        ] {
            let err = crate::parse_query(query).unwrap_err();
            assert_eq!(err, crate::QueryError::BadData(want.into()), "{query}");
        }
    }

    /// Where we know the position but not Prometheus' exact wording.
    #[test]
    fn other_messages_get_a_position() {
        // Prometheus 2.42's texts.
        for (query, token, want) in [
            (
                "x[5x]",
                "\"5x\"",
                "1:3: parse error: bad duration syntax: \"5\"",
            ),
            (
                "x[5mx]",
                "\"5mx\"",
                "1:3: parse error: bad duration syntax: \"5mx\"",
            ),
            (
                "1a",
                "1a",
                "1:1: parse error: bad number or duration syntax: \"1\"",
            ),
            (
                "x[5m:5x]",
                "\"5x\"",
                "1:6: parse error: bad number or duration syntax: \"5\"",
            ),
        ] {
            let msg = format!("bad number or duration syntax: {token}");
            assert_eq!(describe(query, &msg), want, "{query}");
        }
        // Which argument has the wrong type is found by re-parsing the arguments.
        assert_eq!(
            describe(
                "  round(x, y)",
                "expected type scalar in call to function 'round', got vector"
            ),
            "1:12: parse error: expected type scalar in call to function \"round\", got instant vector"
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
