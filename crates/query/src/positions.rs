//! Source positions of function calls and aggregations, for annotation texts
//! ("… (1:5)"). The parser crate keeps no positions, so the query text is scanned
//! for call sites; the converter assigns them to AST nodes in source order.

use crate::ast::{Expr, Pos};
use crate::preprocess::skip_string;

/// One `name(` in the query text.
#[derive(Debug)]
struct Site {
    name: String,
    pos: Pos,
    /// Positions of the top-level arguments inside the parentheses.
    args: Vec<Pos>,
    /// Byte offsets of the call: where its name starts, each argument's text
    /// (blanks trimmed) and just past its closing parenthesis.
    span: CallSpan,
    used: bool,
}

/// Where a call and its arguments are in the query text, as byte offsets.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallSpan {
    pub start: usize,
    pub args: Vec<std::ops::Range<usize>>,
    /// Just past the closing parenthesis (the end of the text if it never closes).
    pub end: usize,
}

#[derive(Debug, Default)]
pub(crate) struct CallSites {
    sites: Vec<Site>,
}

impl CallSites {
    /// Scans `text` for identifiers followed by `(` (or, for aggregations, by a
    /// `by`/`without` clause and then `(`), skipping strings, label matchers and
    /// bracketed durations.
    pub(crate) fn scan(text: &str) -> CallSites {
        let b = text.as_bytes();
        let mut sites = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' | b'\'' | b'`' => i = skip_string(b, i),
                b'{' => i = skip_until(b, i, b'}'),
                b'[' => i = skip_until(b, i, b']'),
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                    {
                        i += 1;
                    }
                    let name = text[start..i].to_ascii_lowercase();
                    if let Some(open) = args_open_paren(text, i) {
                        let (args, end) = arg_spans(text, open);
                        sites.push(Site {
                            name,
                            pos: pos_of(text, start),
                            args: args.iter().map(|a| pos_of(text, a.start)).collect(),
                            span: CallSpan { start, args, end },
                            used: false,
                        });
                    }
                }
                _ => i += 1,
            }
        }
        CallSites { sites }
    }

    /// The next unused site named `name` (case-insensitive): its position and its
    /// argument positions.
    pub(crate) fn take(&mut self, name: &str) -> Option<(Pos, Vec<Pos>)> {
        let name = name.to_ascii_lowercase();
        let site = self.sites.iter_mut().find(|s| !s.used && s.name == name)?;
        site.used = true;
        Some((site.pos, site.args.clone()))
    }

    /// Every site named `name` (case-insensitive), used or not, in source order.
    pub(crate) fn spans<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a CallSpan> + 'a {
        let name = name.to_ascii_lowercase();
        self.sites
            .iter()
            .filter(move |s| s.name == name)
            .map(|s| &s.span)
    }
}

/// After an identifier ending at `from`: the `(` opening its arguments, if any.
fn args_open_paren(text: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = skip_ws(b, from);
    if j < b.len() && b[j] == b'(' {
        return Some(j);
    }
    // `sum by (l) (`, `sum without (l) (`
    let word_end = {
        let mut e = j;
        while e < b.len() && b[e].is_ascii_alphabetic() {
            e += 1;
        }
        e
    };
    let word = text[j..word_end].to_ascii_lowercase();
    if word != "by" && word != "without" {
        return None;
    }
    j = skip_ws(b, word_end);
    if j >= b.len() || b[j] != b'(' {
        return None;
    }
    j = skip_until(b, j, b')');
    j = skip_ws(b, j);
    (j < b.len() && b[j] == b'(').then_some(j)
}

/// Byte ranges of the top-level comma-separated arguments after `open` (blanks
/// trimmed), and the offset just past the closing parenthesis.
fn arg_spans(text: &str, open: usize) -> (Vec<std::ops::Range<usize>>, usize) {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0;
    let mut i = open + 1;
    let mut arg_start = i;
    let push = |from: usize, to: usize, out: &mut Vec<std::ops::Range<usize>>| {
        let s = skip_ws(b, from);
        let e = text[..to].trim_end().len().max(s);
        out.push(s..e);
    };
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'{' => {
                i = skip_until(b, i, b'}');
                continue;
            }
            b'[' => {
                i = skip_until(b, i, b']');
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            b',' if depth == 0 => {
                push(arg_start, i, &mut out);
                arg_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if skip_ws(b, arg_start) < i {
        push(arg_start, i, &mut out);
    }
    (out, (i + 1).min(b.len()))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Skips from an opening character to just past `close` (strings respected).
fn skip_until(b: &[u8], from: usize, close: u8) -> usize {
    let mut j = from + 1;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'`' => j = skip_string(b, j),
            c if c == close => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// 1-based line and column (in characters) of byte offset `off`.
pub(crate) fn pos_of(text: &str, off: usize) -> Pos {
    let before = &text[..off.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    Pos {
        line,
        col: before[line_start..].chars().count() + 1,
    }
}

/// The position of the first non-blank character of `text`.
pub(crate) fn first_token(text: &str) -> Pos {
    let mut pos = Pos { line: 1, col: 1 };
    for c in text.chars() {
        match c {
            '\n' => {
                pos.line += 1;
                pos.col = 1;
            }
            c if c.is_whitespace() => pos.col += 1,
            _ => break,
        }
    }
    pos
}

/// Gives binary expressions and selectors the start position of their left
/// operand: known for call and aggregation arguments (from the call sites),
/// otherwise inherited.
pub(crate) fn assign_binary_positions(e: &mut Expr, start: Pos) {
    match e {
        Expr::Binary(b) => {
            b.pos = start;
            assign_binary_positions(&mut b.lhs, start);
            assign_binary_positions(&mut b.rhs, start);
        }
        Expr::Paren(x) => assign_binary_positions(
            x,
            Pos {
                line: start.line,
                col: start.col + 1,
            },
        ),
        Expr::Neg(x) => assign_binary_positions(x, start),
        Expr::Subquery(sq) => assign_binary_positions(&mut sq.expr, start),
        Expr::Call(c) => {
            for (i, a) in c.args.iter_mut().enumerate() {
                let p = c.arg_pos.get(i).copied().unwrap_or(start);
                assign_binary_positions(a, p);
            }
        }
        Expr::Aggregate(a) => {
            assign_binary_positions(&mut a.expr, a.expr_pos);
            if let Some(p) = &mut a.param {
                assign_binary_positions(p, a.param_pos);
            }
        }
        Expr::VectorSelector(vs) => vs.pos = start,
        Expr::MatrixSelector(ms) => ms.vs.pos = start,
        Expr::Number(_) | Expr::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_calls_aggregations_and_arguments() {
        let mut s = CallSites::scan(r#"sum by (a) (rate(m{x="f("}[5m])) + quantile(0.5, sort(m))"#);
        let (p, args) = s.take("sum").unwrap();
        assert_eq!((p.line, p.col), (1, 1));
        assert_eq!(args.iter().map(|a| a.col).collect::<Vec<_>>(), vec![13]);
        let (p, args) = s.take("rate").unwrap();
        assert_eq!((p.col, args[0].col), (13, 18));
        let (_, args) = s.take("quantile").unwrap();
        assert_eq!(args.iter().map(|a| a.col).collect::<Vec<_>>(), vec![45, 50]);
        assert_eq!(s.take("sort").unwrap().0.col, 50);
        assert!(s.take("sort").is_none());
    }
}
