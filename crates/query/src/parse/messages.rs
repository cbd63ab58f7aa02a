//! Prometheus' wording and position for the parser crate's non-grammar errors:
//! type rules of operators, selector rules, modifiers and the lexer's complaints.
//!
//! The crate's messages name no position; each is matched to the token Prometheus
//! points at by looking at the query's tokens (see `errors::tokens`).

use super::errors::{tokens, Kind, Token, AGGREGATIONS};
use super::literals;
use crate::ast::Pos;
use crate::positions::{pos_of, CallSites};

/// Position and Prometheus text for a crate message, if it is one of those known.
pub(super) fn locate(input: &str, msg: &str) -> Option<(Pos, String)> {
    let q = Query::new(input);
    let at = |off: usize, text: String| Some((pos_of(input, off), text));
    if msg == "binary expression must contain only scalar and instant vector types" {
        return at(q.group_start(q.bad_operand_operator()?), msg.into());
    }
    if let Some(op) = quoted_between(
        msg,
        "set operator ",
        " not allowed in binary scalar expression",
    ) {
        let k = q.operator_named(op)?;
        return at(
            q.group_start(k),
            format!("set operator {op:?} not allowed in binary scalar expression"),
        );
    }
    if let Some(op) = quoted_between(msg, "no grouping allowed for ", " operation") {
        let k = q.operator_named(op)?;
        return at(
            q.group_start(k),
            format!("no grouping allowed for {op:?} operation"),
        );
    }
    if msg == "vector matching only allowed between vectors" {
        let k = q
            .binary_operators()
            .find(|&k| q.modifier_follows(k, &["on", "ignoring"]))?;
        return at(
            q.group_start(k),
            "vector matching only allowed between instant vectors".into(),
        );
    }
    if msg == "bool modifier can only be used on comparison operators" {
        let k = q
            .binary_operators()
            .find(|&k| !is_comparison(q.text(k)) && q.modifier_follows(k, &["bool"]))?;
        return at(q.toks[k].start, msg.into());
    }
    if msg == "comparisons between scalars must use BOOL modifier" {
        let k = q
            .binary_operators()
            .find(|&k| is_comparison(q.text(k)) && !q.modifier_follows(k, &["bool"]))?;
        return at(q.toks[k].start, msg.into());
    }
    if let Some(label) = quoted_between(
        msg,
        "label ",
        " must not occur in ON and GROUP clause at once",
    ) {
        let k = q
            .binary_operators()
            .find(|&k| q.modifier_follows(k, &["on"]))?;
        return at(
            q.toks[k].start,
            format!("label {label:?} must not occur in ON and GROUP clause at once"),
        );
    }
    if let Some(names) = msg.strip_prefix("metric name must not be set twice: ") {
        let (name, other) = names.split_once(" or ")?;
        let name = name.trim_matches('\'');
        let k = (0..q.toks.len()).find(|&k| {
            q.text(k) == name && q.toks.get(k + 1).is_some_and(|_| q.text(k + 1) == "{")
        })?;
        return at(
            q.toks[k].start,
            format!(
                "metric name must not be set twice: {name:?} or {:?}",
                other.trim_matches('\'')
            ),
        );
    }
    if let Some(got) = msg
        .strip_prefix("unary expression only allowed on expressions of type scalar or vector, got")
    {
        let got = got.trim_start_matches([':', ' ']);
        let k = q.unary_operator()?;
        return at(
            q.toks[k].start,
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                super::errors::type_name(got)
            ),
        );
    }
    if msg == "ranges only allowed for vector selectors" {
        return at(q.toks[q.misplaced_range()?].start, msg.into());
    }
    if msg == "duration must be greater than 0" {
        return at(q.toks[q.zero_duration()?].start, msg.into());
    }
    if msg == "offset may not be set multiple times" {
        return at(q.operand_start(q.repeated_modifier("offset")?), msg.into());
    }
    if msg == "@ <timestamp> may not be set multiple times" {
        return at(q.operand_start(q.repeated_modifier("@")?), msg.into());
    }
    if msg.starts_with("unterminated quoted string") {
        return at(
            unterminated_string(input)?,
            "unterminated quoted string".into(),
        );
    }
    if let Some(ch) = msg
        .strip_prefix("unknown escape sequence '")
        .and_then(|r| r.strip_suffix('\''))
        .and_then(|r| r.chars().next())
    {
        let k = (0..q.toks.len())
            .find(|&k| q.toks[k].kind == Kind::String && q.text(k).contains(&format!("\\{ch}")))?;
        return at(
            q.toks[k].start,
            format!("unknown escape sequence U+{:04X} '{ch}'", ch as u32),
        );
    }
    if let Some(number) = msg
        .strip_prefix("ParseFloatError. ")
        .and_then(|r| r.strip_suffix(" can't be parsed into f64"))
    {
        let k = (0..q.toks.len()).find(|&k| q.text(k) == number)?;
        return at(
            q.toks[k].start,
            format!("error parsing number: strconv.ParseFloat: parsing {number:?}: invalid syntax"),
        );
    }
    if let Some(after) = msg.strip_prefix("unexpected character after '") {
        let c = after.chars().next()?;
        let off = q.stray_character(c)?;
        return at(off, msg.into());
    }
    if let Some(counts) =
        msg.strip_prefix("wrong number of arguments for aggregate expression provided, expected ")
    {
        let expected: usize = counts.split(',').next()?.parse().ok()?;
        let sites = CallSites::scan(input);
        let start = AGGREGATIONS
            .iter()
            .flat_map(|name| sites.spans(name))
            .filter(|c| c.args.len() != expected)
            .map(|c| c.start)
            .min()?;
        return at(start, msg.into());
    }
    if msg == "vector selector must contain at least one non-empty matcher" {
        let k = q.empty_selector()?;
        return at(q.toks[k].start, msg.into());
    }
    if let Some(pattern) = msg.strip_prefix("illegal regex for ") {
        let (name, _) = q.regex_matcher(pattern)?;
        let text = super::regex_errors::go_message(pattern)
            .unwrap_or_else(|| format!("invalid regular expression {pattern:?}"));
        return at(q.toks[name].start, text);
    }
    None
}

/// `'x'` in "{prefix}'x'{suffix}", without its quotes.
fn quoted_between<'m>(msg: &'m str, prefix: &str, suffix: &str) -> Option<&'m str> {
    msg.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .strip_prefix('\'')?
        .strip_suffix('\'')
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | "<" | ">" | "<=" | ">=")
}

/// Byte offset of the opening quote of a string literal that never closes.
fn unterminated_string(input: &str) -> Option<usize> {
    let b = input.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = input[i..].find('\n').map_or(b.len(), |n| i + n),
            q @ (b'"' | b'\'' | b'`') => {
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None | Some(b'\n') if q != b'`' => return Some(i),
                        None => return Some(i),
                        Some(b'\\') if q != b'`' => j += 2,
                        Some(&c) if c == q => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The query's tokens with the questions the messages above ask about them.
struct Query<'a> {
    input: &'a str,
    toks: Vec<Token>,
    /// Whether each token is inside `{…}` (a label matcher list).
    in_braces: Vec<bool>,
}

impl<'a> Query<'a> {
    fn new(input: &'a str) -> Query<'a> {
        let toks = tokens(input);
        let mut depth = 0usize;
        let in_braces = toks
            .iter()
            .map(|t| match &input[t.start..t.end] {
                "{" => {
                    depth += 1;
                    false
                }
                "}" => {
                    depth = depth.saturating_sub(1);
                    false
                }
                _ => depth > 0,
            })
            .collect();
        Query {
            input,
            toks,
            in_braces,
        }
    }

    fn text(&self, k: usize) -> &'a str {
        &self.input[self.toks[k].start..self.toks[k].end]
    }

    /// Whether token `k` ends an operand (so an operator after it is binary).
    fn ends_operand(&self, k: usize) -> bool {
        matches!(
            self.toks[k].kind,
            Kind::Number | Kind::String | Kind::Duration | Kind::Identifier
        ) || matches!(self.text(k), ")" | "]" | "}")
    }

    /// Binary operators outside label matchers, in source order.
    fn binary_operators(&self) -> impl Iterator<Item = usize> + '_ {
        (1..self.toks.len()).filter(|&k| {
            self.toks[k].kind == Kind::Operator
                && !self.in_braces[k]
                && !matches!(self.text(k), "=~" | "!~")
                && self.ends_operand(k - 1)
        })
    }

    fn operator_named(&self, op: &str) -> Option<usize> {
        self.binary_operators()
            .find(|&k| self.text(k).eq_ignore_ascii_case(op))
    }

    /// Whether one of `words` is among the modifiers right after operator `k`.
    fn modifier_follows(&self, k: usize, words: &[&str]) -> bool {
        self.toks[k + 1..]
            .iter()
            .take_while(|t| t.kind == Kind::Keyword)
            .any(|t| {
                words
                    .iter()
                    .any(|w| self.input[t.start..t.end].eq_ignore_ascii_case(w))
            })
    }

    /// The first binary operator next to a range vector or string operand.
    fn bad_operand_operator(&self) -> Option<usize> {
        let mut ops = self.binary_operators().peekable();
        let first = *ops.peek()?;
        let bad_left = |k: usize| self.text(k - 1) == "]" || self.toks[k - 1].kind == Kind::String;
        let bad_right = |k: usize| {
            let mut j = k + 1;
            while j < self.toks.len() && self.toks[j].kind == Kind::Keyword {
                j = self.skip_group(j + 1).unwrap_or(j + 1);
            }
            match self.toks.get(j) {
                Some(t) if t.kind == Kind::String => true,
                Some(t) if t.kind == Kind::Identifier => {
                    let after = self.skip_group(j + 1).unwrap_or(j + 1);
                    self.toks
                        .get(after)
                        .is_some_and(|_| self.text(after) == "[")
                        || self
                            .toks
                            .get(j + 1)
                            .is_some_and(|_| self.text(j + 1) == "[")
                }
                _ => false,
            }
        };
        Some(ops.find(|&k| bad_left(k) || bad_right(k)).unwrap_or(first))
    }

    /// Index just past the bracketed group opening at `open`, if it opens one.
    fn skip_group(&self, open: usize) -> Option<usize> {
        let (o, c) = match self.text(open) {
            "(" => ("(", ")"),
            "{" => ("{", "}"),
            "[" => ("[", "]"),
            _ => return None,
        };
        let mut depth = 0;
        for j in open..self.toks.len() {
            if self.text(j) == o {
                depth += 1;
            } else if self.text(j) == c {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
        }
        None
    }

    /// Byte offset where the expression containing token `k` starts: just inside
    /// the enclosing parenthesis or after the argument's comma.
    fn group_start(&self, k: usize) -> usize {
        let mut depth = 0i32;
        for j in (0..k).rev() {
            match self.text(j) {
                ")" | "]" | "}" => depth += 1,
                "(" | "[" | "{" if depth > 0 => depth -= 1,
                "(" | "[" | "{" => return self.toks[j + 1].start,
                "," if depth == 0 => return self.toks[j + 1].start,
                _ => {}
            }
        }
        self.toks.first().map_or(0, |t| t.start)
    }

    /// The first unary `-`/`+`.
    fn unary_operator(&self) -> Option<usize> {
        (0..self.toks.len()).find(|&k| {
            matches!(self.text(k), "-" | "+")
                && !self.in_braces[k]
                && (k == 0 || !self.ends_operand(k - 1))
        })
    }

    /// A `[range]` after something that is not a vector selector (and no subquery).
    fn misplaced_range(&self) -> Option<usize> {
        (1..self.toks.len()).find(|&k| {
            if self.text(k) != "[" || self.in_braces[k] {
                return false;
            }
            let after_selector =
                self.toks[k - 1].kind == Kind::Identifier || self.text(k - 1) == "}";
            let end = self.skip_group(k).unwrap_or(self.toks.len());
            let subquery = (k + 1..end).any(|j| self.text(j) == ":");
            !after_selector && !subquery
        })
    }

    /// A range or subquery step that is zero.
    fn zero_duration(&self) -> Option<usize> {
        (1..self.toks.len()).find(|&k| {
            matches!(self.text(k - 1), "[" | ":")
                && matches!(self.toks[k].kind, Kind::Duration | Kind::Number)
                && self
                    .text(k)
                    .bytes()
                    .all(|c| c == b'0' || c.is_ascii_alphabetic())
        })
    }

    /// The first `offset` (or `@`) that another one follows on the same operand.
    fn repeated_modifier(&self, word: &str) -> Option<usize> {
        let is = |k: usize| self.text(k).eq_ignore_ascii_case(word) && !self.in_braces[k];
        // A binary operator, `)` or `,` ends the operand (`-` may be `offset -1m`).
        let ends_operand = |j: usize| {
            (self.toks[j].kind == Kind::Operator && self.text(j) != "-")
                || matches!(self.text(j), ")" | ",")
        };
        (0..self.toks.len()).find(|&k| {
            is(k)
                && (k + 1..self.toks.len())
                    .take_while(|&j| !ends_operand(j))
                    .any(is)
        })
    }

    /// Start of the operand a modifier at token `k` applies to.
    fn operand_start(&self, k: usize) -> usize {
        let mut j = k;
        while j > 0 {
            let prev = j - 1;
            match self.text(prev) {
                ")" | "]" | "}" => {
                    let Some(open) = self.matching_open(prev) else {
                        break;
                    };
                    j = open;
                }
                _ if self.toks[prev].kind == Kind::Identifier => {
                    j = prev;
                    break;
                }
                _ => break,
            }
        }
        self.toks[j.min(self.toks.len() - 1)].start
    }

    fn matching_open(&self, close: usize) -> Option<usize> {
        let open = match self.text(close) {
            ")" => "(",
            "]" => "[",
            "}" => "{",
            _ => return None,
        };
        let mut depth = 0;
        for j in (0..=close).rev() {
            if self.text(j) == self.text(close) {
                depth += 1;
            } else if self.text(j) == open {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
        }
        None
    }

    /// Byte offset of the `=` or `!` the lexer could not continue.
    fn stray_character(&self, c: char) -> Option<usize> {
        (0..self.toks.len())
            .filter(|&k| !self.in_braces[k])
            .map(|k| (k, self.text(k)))
            .find(|(_, t)| match c {
                '=' => *t == "=~" || *t == "=",
                _ => t.starts_with('!') && *t != "!=",
            })
            .map(|(k, _)| self.toks[k].start)
    }

    /// The first label matcher list without a metric name whose matchers all
    /// match the empty string.
    fn empty_selector(&self) -> Option<usize> {
        (0..self.toks.len()).find(|&k| {
            if self.text(k) != "{" || self.in_braces[k] {
                return false;
            }
            if k > 0 && self.toks[k - 1].kind == Kind::Identifier {
                return false;
            }
            let end = self.skip_group(k).map_or(self.input.len(), |e| self.toks[e - 1].end);
            let selector = &self.input[self.toks[k].start..end];
            matches!(super::type_errors::parse(selector), Err(m) if m == "vector selector must contain at least one non-empty matcher")
        })
    }

    /// The label name token and value of the first regex matcher whose pattern
    /// decodes to `pattern`.
    fn regex_matcher(&self, pattern: &str) -> Option<(usize, usize)> {
        (1..self.toks.len().saturating_sub(1)).find_map(|k| {
            let op = matches!(self.text(k), "=~" | "!~") && self.in_braces[k];
            let value = k + 1;
            (op && self.toks[value].kind == Kind::String
                && literals::decode(self.input, self.toks[value].start).as_deref() == Some(pattern))
            .then_some((k - 1, value))
        })
    }
}

#[cfg(test)]
mod tests {
    /// Each query with Prometheus 2.42's answer (the API's text after
    /// `invalid parameter "query": `).
    #[test]
    fn crate_messages_read_like_prometheus() {
        for (query, want) in [
            ("x[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"),
            ("sum(x[5m] + 1)", "1:5: parse error: binary expression must contain only scalar and instant vector types"),
            ("\"a\" + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"),
            ("x and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
            ("1 + (x and 1)", "1:6: parse error: set operator \"and\" not allowed in binary scalar expression"),
            ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
            ("x + bool y", "1:3: parse error: bool modifier can only be used on comparison operators"),
            ("x == bool on(a) 1", "1:1: parse error: vector matching only allowed between instant vectors"),
            ("x and on(a) group_left y", "1:1: parse error: no grouping allowed for \"and\" operation"),
            ("x + on(a) group_left(a) y", "1:3: parse error: label \"a\" must not occur in ON and GROUP clause at once"),
            ("a{__name__=\"b\"}", "1:1: parse error: metric name must not be set twice: \"a\" or \"b\""),
            ("-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
            ("1 + -\"a\"", "1:5: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
            ("-x[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""),
            ("rate(x[5m])[5m]", "1:12: parse error: ranges only allowed for vector selectors"),
            ("rate(x[5m] offset 1m [1m])", "1:22: parse error: ranges only allowed for vector selectors"),
            ("x[0s]", "1:3: parse error: duration must be greater than 0"),
            ("x[1m:0s]", "1:6: parse error: duration must be greater than 0"),
            ("x offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times"),
            ("x  offset 1m @ 1 offset 1m", "1:1: parse error: offset may not be set multiple times"),
            ("x @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"),
            ("\"unterminated", "1:1: parse error: unterminated quoted string"),
            ("x{a=\"\\q\"}", "1:5: parse error: unknown escape sequence U+0071 'q'"),
            ("x =~ y", "1:3: parse error: unexpected character after '=': '~'"),
            ("1 + 1e", "1:5: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax"),
            ("x !x y", "1:3: parse error: unexpected character after '!': 'x'"),
            ("quantile(x)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"),
            ("sum(x, y)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2"),
            ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
            ("sum(1 + ({a=\"\"}))", "1:10: parse error: vector selector must contain at least one non-empty matcher"),
            ("x{job=~\"(\"}", "1:3: parse error: error parsing regexp: missing closing ): `^(?:()$`"),
            ("x{a=~\"b\", a=~\"(\"}", "1:11: parse error: error parsing regexp: missing closing ): `^(?:()$`"),
        ] {
            let got = crate::parse_query(query).unwrap_err();
            assert_eq!(got, crate::QueryError::BadData(want.into()), "{query}");
        }
    }
}
