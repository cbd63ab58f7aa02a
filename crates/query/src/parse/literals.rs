//! String literals whose bytes are not valid UTF-8.
//!
//! PromQL strings are Go strings: `"\xff"` or `"\377"` is the single byte 0xFF. The
//! parser crate decodes such escapes to the character U+00FF instead, so `"\xff"`
//! would silently become the valid label name `ÿ`. This module re-reads the literals
//! of the query text the Go way, and before parsing replaces each one that is not
//! valid UTF-8 by a placeholder the converter recognises, so each use can behave as
//! in Prometheus:
//! - a matcher value: `=` matches nothing and `!=` everything (no stored value has
//!   those bytes); a regex fails to compile, with Go's "invalid UTF-8" error;
//! - a label name (`count_values`, `label_replace`, `label_join`) or a
//!   `label_replace` regex: Prometheus' evaluation error;
//! - anything else (a string result, a replacement, a separator): the value as an
//!   API client sees it, each invalid byte replaced by U+FFFD.

use crate::ast::{AggOp, Expr, Pos};
use crate::positions::pos_of;
use crate::QueryError;

/// Starts the text that stands in for invalid literal number `n` (a private-use
/// character no query plausibly contains, then a marker).
const PLACEHOLDER_PREFIX: &str = "\u{F8FF}tidemark-invalid-utf8-literal:";

/// `text` with each of `literals` (found in `text`) replaced by a placeholder string.
pub(crate) fn with_placeholders(text: &str, literals: &[InvalidLiteral]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (n, lit) in literals.iter().enumerate() {
        out.push_str(&text[from..lit.offset]);
        out.push_str(&format!("\"{PLACEHOLDER_PREFIX}{n}\""));
        from = lit.end;
    }
    out.push_str(&text[from..]);
    out
}

/// Which literal a parsed string value stands for, if it is a placeholder.
pub(crate) fn placeholder_index(value: &str) -> Option<usize> {
    value.strip_prefix(PLACEHOLDER_PREFIX)?.parse().ok()
}

/// Fails where an invalid literal of `text` (whose tree is `expr`) is used as a
/// label name or a `label_replace` regex, with the error Prometheus' evaluation
/// gives.
pub(crate) fn check_label_name_uses(
    expr: &Expr,
    literals: &[InvalidLiteral],
) -> Result<(), QueryError> {
    if literals.is_empty() {
        return Ok(());
    }
    let mut uses = Vec::new();
    checked_uses(expr, &mut uses);
    for (pos, usage) in &uses {
        let Some(lit) = literals.iter().find(|lit| lit.pos == *pos) else {
            continue;
        };
        return Err(QueryError::Execution(match usage {
            CheckedUse::CountValues => format!("invalid label name {}", lit.go_quoted()),
            CheckedUse::Destination(func) => format!(
                "invalid destination label name in {func}(): {}",
                lit.lossy()
            ),
            CheckedUse::Source(func) => {
                format!("invalid source label name in {func}(): {}", lit.lossy())
            }
            CheckedUse::Regex => format!(
                "invalid regular expression in label_replace(): {}",
                lit.lossy()
            ),
        }));
    }
    Ok(())
}

/// Where a string argument must be valid UTF-8, and which error Prometheus gives
/// when it is not.
enum CheckedUse {
    CountValues,
    Destination(&'static str),
    Source(&'static str),
    Regex,
}

/// Positions of the string arguments of `e` that must be valid UTF-8.
fn checked_uses(e: &Expr, out: &mut Vec<(Pos, CheckedUse)>) {
    match e {
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {}
        Expr::Paren(x) | Expr::Neg(x) => checked_uses(x, out),
        Expr::Subquery(sq) => checked_uses(&sq.expr, out),
        Expr::Binary(b) => {
            checked_uses(&b.lhs, out);
            checked_uses(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            if a.op == AggOp::CountValues {
                out.push((a.param_pos, CheckedUse::CountValues));
            }
            if let Some(p) = &a.param {
                checked_uses(p, out);
            }
            checked_uses(&a.expr, out);
        }
        Expr::Call(c) => {
            // Prometheus compiles the regex before it checks the names.
            let mut order: Vec<usize> = (0..c.arg_pos.len()).collect();
            if c.func == "label_replace" {
                order.rotate_right(1);
            }
            for i in order {
                let pos = &c.arg_pos[i];
                let usage = match (c.func.as_str(), i) {
                    ("label_replace", 4) => CheckedUse::Regex,
                    ("label_replace", 1) => CheckedUse::Destination("label_replace"),
                    ("label_join", 1) => CheckedUse::Destination("label_join"),
                    ("label_join", 3..) => CheckedUse::Source("label_join"),
                    _ => continue,
                };
                out.push((*pos, usage));
            }
            for a in &c.args {
                checked_uses(a, out);
            }
        }
    }
}

/// The parse error Prometheus (Go's regexp) gives for a regex matcher whose
/// pattern `lit` is not UTF-8: it names the rest of `^(?:pattern)$` from the first
/// invalid byte, at the matcher's label name.
pub(crate) fn regex_matcher_error(text: &str, lit: &InvalidLiteral) -> QueryError {
    let first_invalid = std::str::from_utf8(&lit.bytes)
        .err()
        .map_or(lit.bytes.len(), |e| e.valid_up_to());
    let mut rest = lit.bytes[first_invalid..].to_vec();
    rest.extend_from_slice(b")$");
    QueryError::BadData(format!(
        "{}: parse error: error parsing regexp: invalid UTF-8: `{}`",
        pos_of(text, matcher_start(text, lit.offset)),
        go_lossy(&rest)
    ))
}

/// The start of the label name of the matcher whose value starts at `value`
/// (`name =~ "…"`), scanning back over the operator and blanks.
fn matcher_start(text: &str, value: usize) -> usize {
    let before = text[..value].trim_end();
    let before = before
        .strip_suffix(['~', '='])
        .and_then(|b| b.strip_suffix(['=', '!']).or(Some(b)))
        .unwrap_or(before)
        .trim_end();
    let name_len = before
        .bytes()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
        .count();
    before.len() - name_len
}

/// Bytes as Go's JSON encoder shows them: each invalid byte becomes U+FFFD.
fn go_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(chunk.invalid().iter().map(|_| '\u{fffd}'));
    }
    out
}

/// One quoted literal of the query text that decodes to invalid UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InvalidLiteral {
    /// Where the literal (its opening quote) starts.
    pub pos: Pos,
    /// Byte offsets of the opening quote and just past the closing one.
    pub offset: usize,
    pub end: usize,
    /// The bytes a Go string literal would hold.
    pub bytes: Vec<u8>,
}

impl InvalidLiteral {
    /// The value as Go's `%q` prints it: `"a\xc5z"`.
    pub(crate) fn go_quoted(&self) -> String {
        go_quote(&self.bytes)
    }

    /// The value as Go's JSON encoder (and so an API client of Prometheus) shows
    /// it: every invalid byte becomes U+FFFD.
    pub(crate) fn lossy(&self) -> String {
        go_lossy(&self.bytes)
    }
}

/// The `"…"` and `'…'` literals of `text` (comments skipped) whose Go value is not
/// valid UTF-8. Raw back-quoted strings hold text as written, so they are always
/// valid; literals with escapes Go rejects are left to the parser's own error.
pub(crate) fn invalid_utf8_literals(text: &str) -> Vec<InvalidLiteral> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = text[i..].find('\n').map_or(b.len(), |n| i + n),
            b'`' => i = text[i + 1..].find('`').map_or(b.len(), |n| i + n + 2),
            q @ (b'"' | b'\'') => {
                let (bytes, end) = go_unquote(b, i + 1, q);
                if let Some(bytes) = bytes.filter(|v| std::str::from_utf8(v).is_err()) {
                    out.push(InvalidLiteral {
                        pos: pos_of(text, i),
                        offset: i,
                        end,
                        bytes,
                    });
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The value of the string literal whose opening quote is at byte `start` of
/// `text`, decoded as Go does; `None` if it is malformed or not UTF-8.
pub(crate) fn decode(text: &str, start: usize) -> Option<String> {
    let b = text.as_bytes();
    match *b.get(start)? {
        b'`' => text[start + 1..]
            .find('`')
            .map(|n| text[start + 1..start + 1 + n].to_string()),
        q @ (b'"' | b'\'') => String::from_utf8(go_unquote(b, start + 1, q).0?).ok(),
        _ => None,
    }
}

/// Decodes a literal body starting at `from` up to the closing `quote`, as Go's
/// `strconv.Unquote` does. Returns the bytes (`None` for an escape Go rejects or a
/// missing closing quote) and the offset just past the literal.
fn go_unquote(b: &[u8], from: usize, quote: u8) -> (Option<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut ok = true;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            c if c == quote => return (ok.then_some(out), i + 1),
            b'\\' => {
                let (decoded, next) = escape(b, i + 1);
                match decoded {
                    Some(Escape::Byte(v)) => out.push(v),
                    Some(Escape::Char(c)) => {
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                    }
                    None => ok = false,
                }
                i = next;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (None, b.len())
}

enum Escape {
    /// `\xNN` and `\NNN` stand for one byte, whatever UTF-8 says.
    Byte(u8),
    Char(char),
}

/// The escape after a backslash at `at` and the offset past it.
fn escape(b: &[u8], at: usize) -> (Option<Escape>, usize) {
    let Some(&c) = b.get(at) else {
        return (None, at);
    };
    let simple = |ch: char| (Some(Escape::Char(ch)), at + 1);
    match c {
        b'a' => simple('\x07'),
        b'b' => simple('\x08'),
        b'f' => simple('\x0c'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\x0b'),
        b'\\' | b'\'' | b'"' => simple(c as char),
        b'x' => {
            let v = digits(b, at + 1, 2, 16).and_then(|v| u8::try_from(v).ok());
            (v.map(Escape::Byte), at + 3)
        }
        b'0'..=b'7' => {
            let v = digits(b, at, 3, 8).and_then(|v| u8::try_from(v).ok());
            (v.map(Escape::Byte), at + 3)
        }
        b'u' | b'U' => {
            let n = if c == b'u' { 4 } else { 8 };
            let ch = digits(b, at + 1, n, 16).and_then(char::from_u32);
            (ch.map(Escape::Char), at + 1 + n)
        }
        _ => (None, at + 1),
    }
}

/// `n` digits in `radix` starting at `from`.
fn digits(b: &[u8], from: usize, n: usize, radix: u32) -> Option<u32> {
    let s = std::str::from_utf8(b.get(from..from + n)?).ok()?;
    if !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// Go's `%q` for a byte string: valid printable characters as they are, `\"` and
/// `\\` escaped, common control characters by name, invalid bytes as `\xNN`.
fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(usize, usize, String)> {
        invalid_utf8_literals(text)
            .into_iter()
            .map(|l| (l.pos.line, l.pos.col, l.go_quoted()))
            .collect()
    }

    #[test]
    fn byte_escapes_that_break_utf8_are_found() {
        assert_eq!(
            found(r#"label_replace(m, "\xff", "", "src", "(.*)")"#),
            vec![(1, 18, r#""\xff""#.to_string())]
        );
        assert_eq!(
            found(r#"count_values('a\xc5z', m)"#),
            vec![(1, 14, r#""a\xc5z""#.to_string())]
        );
        // Octal escapes are bytes too.
        assert_eq!(found(r#"f("\377")"#), vec![(1, 3, r#""\xff""#.to_string())]);
    }

    #[test]
    fn valid_strings_are_left_alone() {
        // Two byte escapes forming one UTF-8 character are fine (é).
        assert!(found(r#"f("\xc3\xa9", "ÿ", "\u00ff", "\\xff")"#).is_empty());
        // Raw strings keep backslashes; comments are not strings.
        assert!(found("f(`\\xff`) # \"\\xff\"").is_empty());
        // Escapes Go rejects are the parser's business.
        assert!(found(r#"f("\q\xff")"#).is_empty());
        assert!(found(r#"m{a="\xff"#).is_empty());
    }

    #[test]
    fn queries_fail_like_prometheus() {
        use crate::QueryError::{BadData, Execution};
        let err = |q: &str| crate::parse_query(q).unwrap_err();
        assert_eq!(
            err(r#"label_replace(m, "\xff", "", "src", "(.*)")"#),
            Execution("invalid destination label name in label_replace(): \u{fffd}".into())
        );
        assert_eq!(
            err(r#"count_values("a\xc5z", m)"#),
            Execution(r#"invalid label name "a\xc5z""#.into())
        );
        assert_eq!(
            err(r#"label_join(m, "d", ",", "a", "\xff")"#),
            Execution("invalid source label name in label_join(): \u{fffd}".into())
        );
        assert_eq!(
            err(r#"label_replace(m, "\xff", "", "src", "\xfe(")"#),
            Execution("invalid regular expression in label_replace(): \u{fffd}(".into())
        );
        // Go's regexp refuses the pattern, naming the rest of `^(?:…)$`.
        assert_eq!(
            err(r#"sum(m{a="b", job =~ "a\xf0\x9fb"})"#),
            BadData(
                "1:14: parse error: error parsing regexp: invalid UTF-8: `\u{fffd}\u{fffd}b)$`"
                    .into()
            )
        );
        assert_eq!(
            err(r#"m{a!~'\xff'}"#),
            BadData("1:3: parse error: error parsing regexp: invalid UTF-8: `\u{fffd})$`".into())
        );
        assert!(crate::parse_query(r#"label_replace(m, "\xc3\xa9", "", "src", "")"#).is_ok());
    }

    #[test]
    fn other_uses_are_accepted_like_prometheus() {
        use tidemark_model::MatchOp;
        let selector = |q: &str| match crate::parse_query(q).unwrap() {
            Expr::VectorSelector(vs) => vs,
            other => panic!("{other:?}"),
        };
        let vs = selector(r#"m{a="\xff", b!="x\xfe"}"#);
        let (a, b) = (&vs.matchers[1], &vs.matchers[2]);
        assert_eq!((a.op, a.value.as_str()), (MatchOp::Equal, "\u{fffd}"));
        assert!(!a.matches("\u{fffd}") && !a.matches("ÿ"));
        assert_eq!((b.op, b.value.as_str()), (MatchOp::NotEqual, "x\u{fffd}"));
        assert!(b.matches("x\u{fffd}") && b.matches(""));
        // `!=` alone matches the empty value, as in Prometheus.
        assert_eq!(
            crate::parse_query(r#"{a!="\xff"}"#).unwrap_err(),
            crate::QueryError::BadData(
                "1:1: parse error: vector selector must contain at least one non-empty matcher"
                    .into()
            )
        );
        assert_eq!(
            crate::parse_query(r#""a\xffb""#).unwrap(),
            Expr::String("a\u{fffd}b".into())
        );
    }

    #[test]
    fn lossy_form_is_what_a_json_client_sees() {
        let l = &invalid_utf8_literals("\"a\\xffb\"")[0];
        assert_eq!(l.lossy(), "a\u{fffd}b");
        // Go replaces byte by byte, not per maximal invalid sequence.
        let l = &invalid_utf8_literals("\"\\xf0\\x9f\\x98\"")[0];
        assert_eq!(l.lossy(), "\u{fffd}\u{fffd}\u{fffd}");
    }

    #[test]
    fn placeholders_replace_exactly_the_invalid_literals() {
        let text = r#"f("\xff", "ok", '\xfe')"#;
        let lits = invalid_utf8_literals(text);
        let replaced = with_placeholders(text, &lits);
        assert_eq!(
            replaced,
            format!(r#"f("{PLACEHOLDER_PREFIX}0", "ok", "{PLACEHOLDER_PREFIX}1")"#)
        );
        assert_eq!(
            placeholder_index(&format!("{PLACEHOLDER_PREFIX}1")),
            Some(1)
        );
        assert_eq!(placeholder_index("ok"), None);
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(
            found("sum(m)\n  + on() f(\"é\", \"\\xfe\")"),
            vec![(2, 17, r#""\xfe""#.to_string())]
        );
    }
}
