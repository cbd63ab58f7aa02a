//! Which argument a type error is about.
//!
//! The parser crate says "expected type scalar in call to function 'clamp', got
//! string" without saying which argument, while Prometheus points at it
//! (`1:10`). The arguments' texts are known (see `positions`), so each one is
//! parsed on its own to learn its type, and a candidate is confirmed by giving the
//! call a placeholder of a third type there: the crate's complaint then names the
//! type declared for that argument, which must be the expected one.

use promql_parser::parser as pp;

use crate::positions::{CallSites, CallSpan};

/// Byte offset of the argument of `function` whose type `got` (the crate's type
/// name) should have been `expected`.
pub(super) fn call_argument(
    input: &str,
    function: &str,
    expected: &str,
    got: &str,
) -> Option<usize> {
    let sites = CallSites::scan(input);
    // A placeholder of a third type makes the crate name the declared type of
    // the argument it replaces (the arguments before it being right).
    let third = ["scalar", "string", "vector", "matrix"]
        .into_iter()
        .find(|t| *t != expected && *t != got)?;
    let declared_expected =
        format!("expected type {expected} in call to function '{function}', got {third}");
    let found = sites.spans(function).find_map(|call| {
        call.args.iter().enumerate().find_map(|(j, arg)| {
            if type_of(&input[arg.clone()]).as_deref() != Some(got) {
                return None;
            }
            let probed = with_argument(input, call, j, placeholder(third)?);
            (parse(&probed).err()? == declared_expected).then_some(arg.start)
        })
    });
    found
}

/// For "expected type vector in aggregation expression, got matrix" (the
/// aggregated expression) or "… type scalar …" (the parameter): the byte offset of
/// the first aggregation argument of that role with type `got`.
pub(super) fn aggregation_argument(input: &str, expected: &str, got: &str) -> Option<usize> {
    let sites = CallSites::scan(input);
    let mut calls: Vec<&CallSpan> = super::errors::AGGREGATIONS
        .iter()
        .flat_map(|name| sites.spans(name))
        .collect();
    calls.sort_by_key(|c| c.start);
    calls.into_iter().find_map(|call| {
        let arg = if expected == "vector" {
            call.args.last()?
        } else if call.args.len() == 2 {
            &call.args[0]
        } else {
            return None;
        };
        (type_of(&input[arg.clone()]).as_deref() == Some(got)).then_some(arg.start)
    })
}

/// The crate's name for the type of `text` parsed as a whole query.
fn type_of(text: &str) -> Option<String> {
    parse(text).ok().map(|e| e.value_type().to_string())
}

/// Parses like `parse_query` does, up to the crate's tree.
pub(super) fn parse(text: &str) -> Result<pp::Expr, String> {
    let (text, _) = crate::trim_syntax::replace_trim_operators(text);
    let rewritten = crate::preprocess::rewrite(&text)?;
    pp::parse(&rewritten.text)
}

/// An expression of the crate type `name`.
fn placeholder(name: &str) -> Option<&'static str> {
    Some(match name {
        "scalar" => "0",
        "string" => "\"\"",
        "vector" => "placeholder",
        "matrix" => "placeholder[1m]",
        _ => return None,
    })
}

/// The text of `call` with its argument `j` replaced by `text`.
fn with_argument(input: &str, call: &CallSpan, j: usize, text: &str) -> String {
    let arg = &call.args[j];
    format!(
        "{}{}{}",
        &input[call.start..arg.start],
        text,
        &input[arg.end..call.end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_argument_of_the_wrong_type() {
        let at = |q: &str, f: &str, e: &str, g: &str| call_argument(q, f, e, g);
        // `x` is a vector too, but right where it is.
        assert_eq!(at("round(x, y)", "round", "scalar", "vector"), Some(9));
        assert_eq!(
            at("clamp(x, \"a\", \"b\")", "clamp", "scalar", "string"),
            Some(9)
        );
        assert_eq!(
            at(
                "histogram_quantile(\"a\", x)",
                "histogram_quantile",
                "scalar",
                "string"
            ),
            Some(19)
        );
        assert_eq!(
            at(
                "label_replace(x, \"a\", \"b\", \"c\", 1)",
                "label_replace",
                "string",
                "scalar"
            ),
            Some(32)
        );
        // Both arguments in each other's place: the first is the wrong one.
        assert_eq!(
            at(
                "quantile_over_time(x[5m], 0.5)",
                "quantile_over_time",
                "scalar",
                "matrix"
            ),
            Some(19)
        );
        // The second call is the wrong one.
        assert_eq!(
            at("round(x, 1) + round(x, y)", "round", "scalar", "vector"),
            Some(23)
        );
    }

    #[test]
    fn finds_the_aggregation_argument() {
        assert_eq!(
            aggregation_argument("sum(x[5m])", "vector", "matrix"),
            Some(4)
        );
        assert_eq!(
            aggregation_argument("1 + topk(x, y)", "scalar", "vector"),
            Some(9)
        );
        assert_eq!(
            aggregation_argument("count_values(1, x)", "string", "scalar"),
            Some(13)
        );
    }
}
