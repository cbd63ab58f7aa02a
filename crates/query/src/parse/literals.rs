//! String literals whose bytes are not valid UTF-8.
//!
//! PromQL strings are Go strings: `"\xff"` or `"\377"` is the single byte 0xFF. The
//! parser crate decodes such escapes to the character U+00FF instead, so `"\xff"`
//! would silently become the valid label name `ÿ`. This module re-reads the literals
//! of the query text the Go way and reports the ones that are not valid UTF-8, so the
//! converter can fail where Prometheus fails (an invalid label name) and refuse the
//! rest: an engine whose strings are UTF-8 cannot represent them, and a label value
//! holding them can never be stored.

use crate::ast::{AggOp, Expr, Pos};
use crate::positions::pos_of;
use crate::QueryError;

/// Fails when a string literal of `text` (whose tree is `expr`) is not valid UTF-8:
/// with Prometheus' own error where the literal is used as a label name
/// (`count_values`, `label_replace`, `label_join`), else as a parse error.
pub(crate) fn reject_invalid_utf8(expr: &Expr, text: &str) -> Result<(), QueryError> {
    let Some(first) = invalid_utf8_literals(text).into_iter().next() else {
        return Ok(());
    };
    let mut uses = Vec::new();
    label_name_uses(expr, &mut uses);
    Err(match uses.iter().find(|(pos, _)| *pos == first.pos) {
        Some((_, LabelNameUse::CountValues)) => {
            QueryError::Execution(format!("invalid label name {}", first.go_quoted()))
        }
        Some((_, LabelNameUse::Destination(func))) => QueryError::Execution(format!(
            "invalid destination label name in {func}(): {}",
            first.lossy()
        )),
        Some((_, LabelNameUse::Source(func))) => QueryError::Execution(format!(
            "invalid source label name in {func}(): {}",
            first.lossy()
        )),
        None => QueryError::BadData(format!(
            "{}: parse error: string {} is not valid UTF-8",
            first.pos,
            first.go_quoted()
        )),
    })
}

/// Where a string argument names a label, and which error Prometheus gives for an
/// invalid one.
enum LabelNameUse {
    CountValues,
    Destination(&'static str),
    Source(&'static str),
}

/// Positions of the string arguments of `e` that are label names.
fn label_name_uses(e: &Expr, out: &mut Vec<(Pos, LabelNameUse)>) {
    match e {
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {}
        Expr::Paren(x) | Expr::Neg(x) => label_name_uses(x, out),
        Expr::Subquery(sq) => label_name_uses(&sq.expr, out),
        Expr::Binary(b) => {
            label_name_uses(&b.lhs, out);
            label_name_uses(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            if a.op == AggOp::CountValues {
                out.push((a.param_pos, LabelNameUse::CountValues));
            }
            if let Some(p) = &a.param {
                label_name_uses(p, out);
            }
            label_name_uses(&a.expr, out);
        }
        Expr::Call(c) => {
            let func = match c.func.as_str() {
                "label_replace" => Some("label_replace"),
                "label_join" => Some("label_join"),
                _ => None,
            };
            if let Some(func) = func {
                for (i, pos) in c.arg_pos.iter().enumerate() {
                    match i {
                        1 => out.push((*pos, LabelNameUse::Destination(func))),
                        3.. if func == "label_join" => out.push((*pos, LabelNameUse::Source(func))),
                        _ => {}
                    }
                }
            }
            for a in &c.args {
                label_name_uses(a, out);
            }
        }
    }
}

/// One quoted literal of the query text that decodes to invalid UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InvalidLiteral {
    /// Where the literal (its opening quote) starts.
    pub pos: Pos,
    /// The bytes a Go string literal would hold.
    pub bytes: Vec<u8>,
}

impl InvalidLiteral {
    /// The value as Go's `%q` prints it: `"a\xc5z"`.
    pub(crate) fn go_quoted(&self) -> String {
        go_quote(&self.bytes)
    }

    /// The value as a JSON encoder (and so an API client) shows it: every
    /// invalid byte becomes U+FFFD.
    pub(crate) fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
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
            err(r#"m{a="\xff"}"#),
            BadData(r#"1:5: parse error: string "\xff" is not valid UTF-8"#.into())
        );
        assert!(crate::parse_query(r#"label_replace(m, "\xc3\xa9", "", "src", "")"#).is_ok());
    }

    #[test]
    fn lossy_form_is_what_a_json_client_sees() {
        let l = &invalid_utf8_literals("\"a\\xffb\"")[0];
        assert_eq!(l.lossy(), "a\u{fffd}b");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(
            found("sum(m)\n  + on() f(\"é\", \"\\xfe\")"),
            vec![(2, 17, r#""\xfe""#.to_string())]
        );
    }
}
