//! The 3.x histogram trim operators `</` (keep observations below) and `>/`
//! (keep observations above), which `promql-parser` does not know.
//!
//! They are rewritten to `< ` and `> ` (same length, so source positions stay
//! right) and remembered by their rank among all `<`/`>` operators; the converter
//! counts the comparison operators it meets in source order and turns the marked
//! ones back into [`crate::ast::BinOp::TrimUpper`] / [`crate::ast::BinOp::TrimLower`].

use crate::preprocess::skip_string;

/// The query with trim operators replaced, and for every `<`/`>`-family operator
/// in source order whether it was a trim operator.
pub(crate) fn replace_trim_operators(text: &str) -> (String, Vec<bool>) {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut marks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'<' | b'>' => {
                let trim = b.get(i + 1) == Some(&b'/');
                if trim {
                    out[i + 1] = b' ';
                }
                marks.push(trim);
                // `<=`/`>=` are one operator.
                if b.get(i + 1) == Some(&b'=') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    // Only ASCII bytes were replaced, by ASCII, so this stays valid UTF-8.
    (
        String::from_utf8(out).unwrap_or_else(|_| text.to_string()),
        marks,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_trim_operators_by_rank() {
        let (t, m) = replace_trim_operators(r#"a{x="</"} </ 1 > b >= c >/ 2"#);
        assert_eq!(t, r#"a{x="</"} <  1 > b >= c >  2"#);
        assert_eq!(m, vec![true, false, false, true]);
    }
}
