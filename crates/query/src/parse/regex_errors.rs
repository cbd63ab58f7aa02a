//! Go's `regexp` error texts for a label matcher pattern the parser rejected.
//!
//! Prometheus compiles `^(?:pattern)$` with Go's `regexp` and reports its error:
//! "error parsing regexp: missing closing ): `^(?:()$`". The pattern is parsed
//! here with `regex-syntax`, whose error kinds map onto Go's for the common
//! mistakes; each names the part of the anchored pattern Go would quote.

use regex_syntax::ast::{parse::Parser, ErrorKind};

/// Go's message for the anchored `pattern`, if its mistake is one Go names the
/// same way.
pub(super) fn go_message(pattern: &str) -> Option<String> {
    let anchored = format!("^(?:{pattern})$");
    let err = Parser::new().parse(&anchored).err()?;
    let span = err.span();
    // An empty span (a repetition operator with nothing before it) means the
    // character there.
    let spanned = || match span.start.offset == span.end.offset {
        true => anchored
            .get(span.start.offset..)?
            .chars()
            .next()
            .map(|c| &anchored[span.start.offset..span.start.offset + c.len_utf8()]),
        false => anchored.get(span.start.offset..span.end.offset),
    };
    let (code, expr) = match err.kind() {
        ErrorKind::GroupUnclosed => ("missing closing )", anchored.as_str()),
        ErrorKind::GroupUnopened => ("unexpected )", anchored.as_str()),
        ErrorKind::ClassUnclosed => ("missing closing ]", anchored.get(span.start.offset..)?),
        ErrorKind::EscapeUnrecognized => ("invalid escape sequence", spanned()?),
        ErrorKind::RepetitionMissing => ("missing argument to repetition operator", spanned()?),
        ErrorKind::RepetitionCountInvalid => ("invalid repeat count", spanned()?),
        ErrorKind::ClassRangeInvalid => ("invalid character class range", spanned()?),
        _ => return None,
    };
    Some(format!("error parsing regexp: {code}: `{expr}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts from Prometheus 2.42 (`x{a=~"…"}`).
    #[test]
    fn messages_match_go() {
        for (pattern, want) in [
            ("(", "missing closing ): `^(?:()$`"),
            ("a)", "unexpected ): `^(?:a))$`"),
            ("[a", "missing closing ]: `[a)$`"),
            ("\\q", "invalid escape sequence: `\\q`"),
            ("*", "missing argument to repetition operator: `*`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            ("a{2,1}", "invalid repeat count: `{2,1}`"),
        ] {
            assert_eq!(
                go_message(pattern),
                Some(format!("error parsing regexp: {want}")),
                "{pattern}"
            );
        }
        assert_eq!(go_message("a|b"), None);
    }
}
