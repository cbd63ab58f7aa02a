//! The step-invariance check's expression rewrite (FORMAT.md §5.6.2): every vector
//! selector, matrix selector and subquery without an explicit `@` that is not inside a
//! subquery gets `@ <t>`; `@ start()`/`@ end()` are replaced by `@ <t>` as upstream's
//! re-serialisation does.
//!
//! This works on tokens and edits the original text in place instead of re-printing an
//! AST, so it needs no PromQL parser (and so keeps up with syntax the engine's parser
//! might not know yet: duration expressions, `anchored`/`smoothed`, `fill`), and every
//! other character of the expression survives unchanged.

/// Functions whose value depends on the evaluation time even with pinned inputs.
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

const BINARY_KEYWORDS: &[&str] = &["and", "or", "unless", "atan2"];
/// Includes the histogram trim operators `</` and `>/`.
const BINARY_SYMBOLS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", "<=", ">=", "<", ">", "</", ">/",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Number,
    Str,
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Result of [`pin_selectors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtRewrite {
    /// The expression calls a time-dependent function outside subqueries: no check.
    Skip,
    Rewritten(String),
}

/// Renders a millisecond timestamp as the `@` argument (seconds, 3 decimals).
pub fn format_at(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let abs = t_ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// Rewrites `expr` so that its selectors are pinned to `t_ms`.
pub fn pin_selectors(expr: &str, t_ms: i64) -> Result<AtRewrite, String> {
    let tokens = tokenize(expr)?;
    let mut rw = Rewriter {
        src: expr,
        tokens,
        pos: 0,
        edits: Vec::new(),
        unsafe_call: false,
    };
    rw.parse_expr()?;
    if rw.pos != rw.tokens.len() {
        return Err(format!("unexpected {:?} in {expr:?}", rw.text(rw.pos)));
    }
    if rw.unsafe_call {
        return Ok(AtRewrite::Skip);
    }
    let at = format_at(t_ms);
    let mut edits = rw.edits;
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(expr.len() + edits.len() * 12);
    let mut last = 0;
    for e in edits {
        out.push_str(&expr[last..e.start]);
        match e.kind {
            EditKind::InsertAt => {
                out.push_str(" @ ");
                out.push_str(&at);
            }
            EditKind::ReplaceWithTime => out.push_str(&at),
        }
        last = e.end;
    }
    out.push_str(&expr[last..]);
    Ok(AtRewrite::Rewritten(out))
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut bracket_depth = 0usize;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let kind = if c.is_ascii_alphabetic() || c == b'_' || (c == b':' && bracket_depth == 0) {
            // Inside `[...]` a colon separates range and step, outside it may be part of a name.
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'_'
                    || (b[i] == b':' && bracket_depth == 0))
            {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let is_hex = src[i..].starts_with("0x") || src[i..].starts_with("0X");
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                let exponent_sign = !is_hex
                    && (b[i] == b'e' || b[i] == b'E')
                    && matches!(b.get(i + 1), Some(b'+' | b'-'))
                    && b.get(i + 2).is_some_and(u8::is_ascii_digit);
                i += if exponent_sign { 2 } else { 1 };
            }
            Kind::Number
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated string in {src:?}")),
                    Some(&q) if q == c => break,
                    Some(b'\\') if c != b'`' => i += 2,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            Kind::Str
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            if ["==", "!=", "<=", ">=", "=~", "!~", "</", ">/"].contains(&two) {
                i += 2;
            } else if b"+-*/%^<>=(){}[],:@".contains(&c) {
                match c {
                    b'[' => bracket_depth += 1,
                    b']' => bracket_depth = bracket_depth.saturating_sub(1),
                    _ => {}
                }
                i += 1;
            } else {
                return Err(format!(
                    "unexpected character {:?} in {src:?}",
                    src[i..].chars().next().unwrap_or('?')
                ));
            }
            Kind::Punct
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    Ok(tokens)
}

#[derive(Debug, Clone, Copy)]
enum EditKind {
    /// Insert ` @ <t>` at `start` (`start == end`).
    InsertAt,
    /// Replace `start..end` (`start()`/`end()`) with `<t>`.
    ReplaceWithTime,
}

#[derive(Debug, Clone, Copy)]
struct Edit {
    start: usize,
    end: usize,
    kind: EditKind,
}

/// What a primary expression turned out to be, for the postfix loop.
enum Operand {
    /// A selector or subquery that may be pinned: `@` is inserted at `insert_at`.
    Pinnable {
        insert_at: usize,
        is_selector: bool,
    },
    Other,
}

struct Rewriter<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    edits: Vec<Edit>,
    unsafe_call: bool,
}

impl Rewriter<'_> {
    fn text(&self, i: usize) -> &str {
        self.tokens.get(i).map_or("", |t| &self.src[t.start..t.end])
    }

    fn peek(&self) -> &str {
        self.text(self.pos)
    }

    fn peek_kind(&self) -> Option<Kind> {
        self.tokens.get(self.pos).map(|t| t.kind)
    }

    fn peek_keyword(&self, words: &[&str]) -> bool {
        self.peek_kind() == Some(Kind::Ident)
            && words.iter().any(|w| w.eq_ignore_ascii_case(self.peek()))
    }

    fn expect(&mut self, s: &str) -> Result<(), String> {
        if self.peek() != s {
            return Err(format!(
                "expected {s:?}, found {:?} in {:?}",
                self.peek(),
                self.src
            ));
        }
        self.pos += 1;
        Ok(())
    }

    /// Skips a balanced `(...)`, `{...}` or `[...]` group starting at the current token;
    /// returns the index of the closing token.
    fn skip_group(&mut self) -> Result<usize, String> {
        let mut depth = 0i32;
        while self.pos < self.tokens.len() {
            let t = self.peek();
            if ["(", "{", "["].contains(&t) {
                depth += 1;
            } else if [")", "}", "]"].contains(&t) {
                depth -= 1;
                if depth == 0 {
                    self.pos += 1;
                    return Ok(self.pos - 1);
                }
            }
            self.pos += 1;
        }
        Err(format!("unbalanced brackets in {:?}", self.src))
    }

    fn parse_expr(&mut self) -> Result<(), String> {
        self.parse_unary()?;
        while BINARY_SYMBOLS.contains(&self.peek()) || self.peek_keyword(BINARY_KEYWORDS) {
            self.pos += 1;
            self.skip_binary_modifiers()?;
            self.parse_unary()?;
        }
        Ok(())
    }

    fn skip_binary_modifiers(&mut self) -> Result<(), String> {
        loop {
            if self.peek_keyword(&["bool"]) {
                self.pos += 1;
            } else if self.peek_keyword(&["group_left", "group_right"]) {
                self.pos += 1;
                if self.peek() == "(" {
                    self.skip_group()?;
                }
            } else if self.peek_keyword(&["on", "ignoring", "fill", "fill_left", "fill_right"])
                && self.text(self.pos + 1) == "("
            {
                // Without a label/value list these words are metric names (`other + fill`).
                self.pos += 1;
                self.skip_group()?;
            } else {
                return Ok(());
            }
        }
    }

    fn parse_unary(&mut self) -> Result<(), String> {
        while self.peek() == "+" || self.peek() == "-" {
            self.pos += 1;
        }
        self.parse_postfix()
    }

    fn parse_postfix(&mut self) -> Result<(), String> {
        let edits_before = self.edits.len();
        let unsafe_before = self.unsafe_call;
        let mut operand = self.parse_primary()?;
        let mut pinned = false;
        let mut replace_span: Option<(usize, usize)> = None;
        loop {
            if self.peek() == "[" {
                let open = self.pos;
                let close = self.skip_group()?;
                let is_subquery = self.tokens[open + 1..close]
                    .iter()
                    .any(|t| t.kind == Kind::Punct && &self.src[t.start..t.end] == ":");
                let end = self.tokens[close].end;
                if is_subquery {
                    // Nothing inside a subquery is pinned, and time functions there do not count.
                    self.edits.truncate(edits_before);
                    self.unsafe_call = unsafe_before;
                    operand = Operand::Pinnable {
                        insert_at: end,
                        is_selector: false,
                    };
                    pinned = false;
                    replace_span = None;
                } else {
                    match operand {
                        Operand::Pinnable {
                            is_selector: true, ..
                        } => {
                            operand = Operand::Pinnable {
                                insert_at: end,
                                is_selector: true,
                            }
                        }
                        _ => return Err(format!("range on a non-selector in {:?}", self.src)),
                    }
                }
            } else if self.peek_keyword(&["offset"]) {
                self.pos += 1;
                self.skip_time_value()?;
            } else if self.peek() == "@" {
                self.pos += 1;
                let start = self.tokens.get(self.pos).map(|t| t.start);
                if self.peek_keyword(&["start", "end"]) && self.text(self.pos + 1) == "(" {
                    self.pos += 1;
                    let close = self.skip_group()?;
                    replace_span = start.map(|s| (s, self.tokens[close].end));
                } else {
                    self.skip_time_value()?;
                    pinned = true;
                }
            } else if self.peek_keyword(&["anchored", "smoothed"]) {
                self.pos += 1;
            } else {
                break;
            }
        }
        if let Operand::Pinnable { insert_at, .. } = operand {
            if !pinned {
                match replace_span {
                    Some((start, end)) => self.edits.push(Edit {
                        start,
                        end,
                        kind: EditKind::ReplaceWithTime,
                    }),
                    None => self.edits.push(Edit {
                        start: insert_at,
                        end: insert_at,
                        kind: EditKind::InsertAt,
                    }),
                }
            }
        }
        Ok(())
    }

    /// The argument of `offset` or `@`: signs, then a literal, a call or a parenthesised
    /// duration expression. Binary operators after it belong to the enclosing expression.
    fn skip_time_value(&mut self) -> Result<(), String> {
        while self.peek() == "+" || self.peek() == "-" {
            self.pos += 1;
        }
        match self.peek_kind() {
            Some(Kind::Number) => self.pos += 1,
            Some(Kind::Ident) if self.text(self.pos + 1) == "(" => {
                self.pos += 1;
                self.skip_group()?;
            }
            Some(Kind::Ident) if self.peek_keyword(&["inf", "nan"]) => self.pos += 1,
            Some(Kind::Punct) if self.peek() == "(" => {
                self.skip_group()?;
            }
            _ => {
                return Err(format!(
                    "invalid offset/@ value {:?} in {:?}",
                    self.peek(),
                    self.src
                ))
            }
        }
        Ok(())
    }

    fn parse_primary(&mut self) -> Result<Operand, String> {
        match self.peek_kind() {
            Some(Kind::Number | Kind::Str) => {
                self.pos += 1;
                Ok(Operand::Other)
            }
            Some(Kind::Punct) if self.peek() == "(" => {
                self.pos += 1;
                self.parse_expr()?;
                self.expect(")")?;
                Ok(Operand::Other)
            }
            Some(Kind::Punct) if self.peek() == "{" => {
                let close = self.skip_group()?;
                Ok(Operand::Pinnable {
                    insert_at: self.tokens[close].end,
                    is_selector: true,
                })
            }
            Some(Kind::Ident) => self.parse_ident_primary(),
            _ => Err(format!("unexpected {:?} in {:?}", self.peek(), self.src)),
        }
    }

    fn parse_ident_primary(&mut self) -> Result<Operand, String> {
        let name = self.peek().to_string();
        if self.peek_keyword(&["inf", "nan"]) {
            self.pos += 1;
            return Ok(Operand::Other);
        }
        let next = self.text(self.pos + 1).to_ascii_lowercase();
        if next == "(" || next == "by" || next == "without" {
            // Function call or aggregation, with the grouping clause before or after the arguments.
            self.pos += 1;
            if AT_UNSAFE_FUNCTIONS.contains(&name.as_str()) {
                self.unsafe_call = true;
            }
            self.skip_grouping()?;
            self.parse_call_args()?;
            self.skip_grouping()?;
            return Ok(Operand::Other);
        }
        self.pos += 1;
        let mut insert_at = self.tokens[self.pos - 1].end;
        if self.peek() == "{" {
            let close = self.skip_group()?;
            insert_at = self.tokens[close].end;
        }
        Ok(Operand::Pinnable {
            insert_at,
            is_selector: true,
        })
    }

    fn skip_grouping(&mut self) -> Result<(), String> {
        if self.peek_keyword(&["by", "without"]) {
            self.pos += 1;
            if self.peek() != "(" {
                return Err(format!(
                    "expected label list after by/without in {:?}",
                    self.src
                ));
            }
            self.skip_group()?;
        }
        Ok(())
    }

    fn parse_call_args(&mut self) -> Result<(), String> {
        self.expect("(")?;
        if self.peek() == ")" {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.parse_expr()?;
            match self.peek() {
                "," => self.pos += 1,
                ")" => {
                    self.pos += 1;
                    return Ok(());
                }
                other => {
                    return Err(format!(
                        "expected ',' or ')' in call, found {other:?} in {:?}",
                        self.src
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(expr: &str) -> String {
        match pin_selectors(expr, 3_000_000).unwrap() {
            AtRewrite::Rewritten(s) => s,
            AtRewrite::Skip => "<skip>".to_string(),
        }
    }

    #[test]
    fn pins_selectors_and_matrices() {
        assert_eq!(pin("foo"), "foo @ 3000.000");
        assert_eq!(
            pin(r#"sum by (job) (rate(foo{a="}"}[5m] offset 1m))"#),
            r#"sum by (job) (rate(foo{a="}"}[5m] @ 3000.000 offset 1m))"#
        );
        assert_eq!(
            pin("{__name__=~'x'} + on(a) group_left(b) bar"),
            "{__name__=~'x'} @ 3000.000 + on(a) group_left(b) bar @ 3000.000"
        );
        assert_eq!(
            pin("count(x) without (instance)"),
            "count(x @ 3000.000) without (instance)"
        );
        assert_eq!(
            pin("metric1_total offset 100 + 2"),
            "metric1_total @ 3000.000 offset 100 + 2"
        );
        assert_eq!(
            pin("m offset -(min_of(step(), 1m)) smoothed"),
            "m @ 3000.000 offset -(min_of(step(), 1m)) smoothed"
        );
        assert_eq!(pin("a AND b"), "a @ 3000.000 AND b @ 3000.000");
        assert_eq!(pin("-x"), "-x @ 3000.000");
        assert_eq!(pin("1e-3 * Inf"), "1e-3 * Inf");
        assert_eq!(
            pin(r#"info(m, {data=~".+"})"#),
            r#"info(m @ 3000.000, {data=~".+"} @ 3000.000)"#
        );
        assert_eq!(
            pin("a + fill(0) fill"),
            "a @ 3000.000 + fill(0) fill @ 3000.000"
        );
        assert_eq!(pin("h </ 0.5"), "h @ 3000.000 </ 0.5");
        assert_eq!(pin("a * fill(0) b"), "a @ 3000.000 * fill(0) b @ 3000.000");
        assert_eq!(
            pin("rate(m[5m+1m] anchored)"),
            "rate(m[5m+1m] @ 3000.000 anchored)"
        );
    }

    #[test]
    fn respects_existing_at_and_replaces_start_end() {
        assert_eq!(pin("foo @ 100"), "foo @ 100");
        assert_eq!(
            pin("foo offset 5m @ 100 + bar"),
            "foo offset 5m @ 100 + bar @ 3000.000"
        );
        assert_eq!(pin("foo @ start()"), "foo @ 3000.000");
        assert_eq!(pin("x[5m] @ end() offset 1m"), "x[5m] @ 3000.000 offset 1m");
    }

    #[test]
    fn subqueries_are_pinned_as_a_whole() {
        assert_eq!(
            pin("max_over_time(rate(x[1m])[5m:1m])"),
            "max_over_time(rate(x[1m])[5m:1m] @ 3000.000)"
        );
        assert_eq!(
            pin("sum_over_time(x[5m:])"),
            "sum_over_time(x[5m:] @ 3000.000)"
        );
        assert_eq!(
            pin("min_over_time((a + b)[10m:1m] @ 100)"),
            "min_over_time((a + b)[10m:1m] @ 100)"
        );
        assert_eq!(pin("x[5m:1m][10m:2m]"), "x[5m:1m][10m:2m] @ 3000.000");
        // Time functions inside a subquery do not disable the check (as upstream).
        assert_eq!(
            pin("max_over_time(timestamp(x)[5m:1m])"),
            "max_over_time(timestamp(x)[5m:1m] @ 3000.000)"
        );
    }

    #[test]
    fn skips_time_dependent_functions() {
        assert_eq!(pin("time()"), "<skip>");
        assert_eq!(pin("hour(foo)"), "<skip>");
        assert_eq!(pin("sum(timestamp(foo))"), "<skip>");
        assert_eq!(
            pin("label_replace(up, \"a\", \"b\", \"c\", \"d\")"),
            "label_replace(up @ 3000.000, \"a\", \"b\", \"c\", \"d\")"
        );
    }

    #[test]
    fn time_formatting_and_errors() {
        assert_eq!(format_at(0), "0.000");
        assert_eq!(format_at(1_500), "1.500");
        assert_eq!(format_at(-1_000), "-1.000");
        assert!(pin_selectors("foo(", 0).is_err());
        assert!(pin_selectors("foo )", 0).is_err());
        assert!(pin_selectors("\"abc", 0).is_err());
    }
}
