//! Rewrites the Prometheus 3.x syntax that `promql-parser` 0.11 does not know into
//! placeholders it does, remembering what each placeholder stands for:
//!
//! * duration expressions in ranges, subquery steps and offsets
//!   (`[5m+1m]`, `[1h:step()*2]`, `offset (1h/2)`, `offset -min_of(step(), 1s)`);
//! * the `anchored` / `smoothed` range-selector modifiers.
//!
//! Each rewritten spot becomes a unique duration literal far outside any real
//! range (see [`PLACEHOLDER_BASE_MS`]); the converter in `parse.rs` maps the parsed
//! duration back to the recorded [`DurationExpr`] and [`RangeMode`].

use crate::ast::{DurationExpr, DurationOp, RangeMode};

/// Placeholders are written as `<7_100_000 + i>h` (about 810 years, a value no real
/// query uses; hours keep the number small enough for the parser crate's lexer).
const PLACEHOLDER_BASE_HOURS: i64 = 7_100_000;
const HOUR_MS: i64 = 3_600_000;
pub(crate) const PLACEHOLDER_BASE_MS: i64 = PLACEHOLDER_BASE_HOURS * HOUR_MS;

/// Matcher name that marks an instant selector written with the `smoothed`
/// modifier (`metric smoothed`); the converter removes it again.
pub(crate) const SMOOTHED_MARKER: &str = "__tidemark_smoothed__";

/// Matcher name added to `info()`'s label selector so the parser crate accepts
/// selectors whose matchers all match the empty string; the converter removes it.
pub(crate) const INFO_SELECTOR_MARKER: &str = "__tidemark_info_selector__";

/// Words that can follow an expression but are not selectors.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "atan2",
    "offset",
    "anchored",
    "smoothed",
    "start",
    "end",
    "inf",
    "nan",
    "fill",
    "fill_left",
    "fill_right",
];

/// What one placeholder stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placeholder {
    pub duration: DurationExpr,
    pub mode: RangeMode,
}

/// The rewritten query text and the placeholders it contains (index `i` has the
/// value `PLACEHOLDER_BASE_MS + i` hours).
#[derive(Debug, Default)]
pub(crate) struct Rewritten {
    pub text: String,
    pub placeholders: Vec<Placeholder>,
}

impl Rewritten {
    /// The placeholder a parsed duration of `ms` stands for, if it is one.
    pub(crate) fn lookup(&self, ms: i64) -> Option<&Placeholder> {
        let off = ms.checked_sub(PLACEHOLDER_BASE_MS)?;
        if off < 0 || off % HOUR_MS != 0 {
            return None;
        }
        self.placeholders.get((off / HOUR_MS) as usize)
    }

    fn add(&mut self, duration: DurationExpr, mode: RangeMode) -> String {
        let i = self.placeholders.len() as i64;
        self.placeholders.push(Placeholder { duration, mode });
        format!("{}h", PLACEHOLDER_BASE_HOURS + i)
    }
}

/// Rewrites `input`; returns an error text for a malformed duration expression.
pub(crate) fn rewrite(input: &str) -> Result<Rewritten, String> {
    let mut out = Rewritten::default();
    let b = input.as_bytes();
    let mut text = String::with_capacity(input.len());
    let mut i = 0;
    // The last significant character emitted, to recognise `offset` as a modifier.
    let mut prev_sig: u8 = 0;
    // Byte ranges of range-mode keywords to leave out of the rewritten text.
    let mut skip: Vec<(usize, usize)> = Vec::new();
    // End (in `text`) of the last instant selector, and whether it ends with `}`.
    let mut last_selector: Option<(usize, bool)> = None;
    // Input offsets of `{` that open an `info()` label selector.
    let mut info_selectors: Vec<usize> = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                let end = skip_string(b, i);
                text.push_str(&input[i..end]);
                i = end;
                prev_sig = c;
            }
            b'#' => {
                // Comment to end of line.
                let end = input[i..].find('\n').map_or(b.len(), |n| i + n);
                text.push_str(&input[i..end]);
                i = end;
            }
            b'{' => {
                let end = skip_braces(b, i);
                if info_selectors.contains(&i) && end > i + 1 {
                    let body = &input[i + 1..end - 1];
                    let sep = if body.trim().is_empty() { "" } else { "," };
                    text.push_str(&format!("{{{body}{sep}{INFO_SELECTOR_MARKER}=\"1\"}}"));
                } else {
                    text.push_str(&input[i..end]);
                }
                last_selector = Some((text.len(), true));
                i = end;
                prev_sig = b'}';
            }
            b'[' => {
                let close = find_close_bracket(b, i).ok_or("unclosed left bracket")?;
                let inner = &input[i + 1..close];
                let (mode, kw) = range_mode_after(input, close + 1);
                if let Some(kw) = kw {
                    skip.push(kw);
                }
                text.push('[');
                text.push_str(&rewrite_bracket(inner, mode, &mut out)?);
                text.push(']');
                i = close + 1;
                prev_sig = b']';
            }
            _ if is_ident_start(c) && skip.iter().any(|(s, _)| *s == i) => {
                // An `anchored`/`smoothed` keyword already applied to its range.
                i = skip
                    .iter()
                    .find(|(s, _)| *s == i)
                    .map_or(i + 1, |(_, e)| *e);
            }
            _ if is_ident_start(c) => {
                let end = ident_end(b, i);
                let word = &input[i..end];
                if word.eq_ignore_ascii_case("offset")
                    && (prev_sig == b']'
                        || prev_sig == b'}'
                        || prev_sig == b')'
                        || is_ident_char(prev_sig))
                {
                    let (atom_end, atom) = offset_atom(input, end)?;
                    match atom {
                        Some(d) => {
                            text.push_str(word);
                            text.push(' ');
                            text.push_str(&out.add(d, RangeMode::Plain));
                        }
                        None => text.push_str(&input[i..atom_end]),
                    }
                    i = atom_end;
                } else if word.eq_ignore_ascii_case("smoothed") {
                    let Some((at, braced)) = last_selector.take() else {
                        return Err("unexpected \"smoothed\" modifier".into());
                    };
                    mark_smoothed(&mut text, at, braced);
                    i = end;
                } else {
                    if word == "info" {
                        if let Some(open) = second_arg_brace(input, end) {
                            info_selectors.push(open);
                        }
                    }
                    text.push_str(word);
                    i = end;
                    let followed_by_call = input[end..].trim_start().starts_with('(');
                    let keyword = KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k));
                    if !followed_by_call && !keyword {
                        last_selector = Some((text.len(), false));
                    }
                }
                prev_sig = b'a';
            }
            _ => {
                // Copy one UTF-8 character.
                let ch_len = input[i..].chars().next().map_or(1, char::len_utf8);
                text.push_str(&input[i..i + ch_len]);
                if !c.is_ascii_whitespace() {
                    prev_sig = c;
                }
                i += ch_len;
            }
        }
    }
    out.text = text;
    Ok(out)
}

/// For `info(` at `from`: the input offset of a `{` starting its second argument.
fn second_arg_brace(input: &str, from: usize) -> Option<usize> {
    let b = input.as_bytes();
    let mut j = from;
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    if j >= b.len() || b[j] != b'(' {
        return None;
    }
    let mut depth = 0;
    let mut k = j;
    while k < b.len() {
        match b[k] {
            b'"' | b'\'' | b'`' => {
                k = skip_string(b, k);
                continue;
            }
            b'{' => {
                k = skip_braces(b, k);
                continue;
            }
            b'[' => {
                k = find_close_bracket(b, k).map_or(b.len(), |c| c + 1);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            b',' if depth == 1 => {
                let mut a = k + 1;
                while a < b.len() && b[a].is_ascii_whitespace() {
                    a += 1;
                }
                return (a < b.len() && b[a] == b'{').then_some(a);
            }
            _ => {}
        }
        k += 1;
    }
    None
}

/// Adds the [`SMOOTHED_MARKER`] matcher to the selector ending at `at` in `text`.
fn mark_smoothed(text: &mut String, at: usize, braced: bool) {
    let marker = format!("{SMOOTHED_MARKER}=\"1\"");
    if braced {
        // Insert before the closing brace, with a comma unless the braces are empty.
        let close = at - 1;
        let empty = text[..close].trim_end().ends_with('{');
        let insert = if empty { marker } else { format!(",{marker}") };
        text.insert_str(close, &insert);
    } else {
        text.insert_str(at, &format!("{{{marker}}}"));
    }
}

/// Rewrites `range` or `range:step` inside brackets.
fn rewrite_bracket(inner: &str, mode: RangeMode, out: &mut Rewritten) -> Result<String, String> {
    let (range, step) = match split_top_level_colon(inner) {
        Some(pos) => (&inner[..pos], Some(&inner[pos + 1..])),
        None => (inner, None),
    };
    let mut s = String::new();
    if is_plain_duration(range) && mode == RangeMode::Plain {
        s.push_str(range);
    } else {
        s.push_str(&out.add(parse_duration_expr(range)?, mode));
    }
    if let Some(step) = step {
        s.push(':');
        if step.trim().is_empty() || is_plain_duration(step) {
            s.push_str(step);
        } else {
            s.push_str(&out.add(parse_duration_expr(step)?, RangeMode::Plain));
        }
    }
    Ok(s)
}

/// `anchored` / `smoothed` following a closing bracket, possibly after `@` and
/// `offset` modifiers (both orders occur in practice). Returns the mode and the
/// keyword's byte range.
fn range_mode_after(input: &str, from: usize) -> (RangeMode, Option<(usize, usize)>) {
    let b = input.as_bytes();
    let mut j = from;
    loop {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= b.len() {
            return (RangeMode::Plain, None);
        }
        if b[j] == b'@' {
            // `@ <number>` or `@ start()` / `@ end()`.
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'-' | b'+' | b'_'))
            {
                j += 1;
            }
            if input[j..].starts_with("()") {
                j += 2;
            }
            continue;
        }
        if !is_ident_start(b[j]) {
            return (RangeMode::Plain, None);
        }
        let end = ident_end(b, j);
        let word = &input[j..end];
        if word.eq_ignore_ascii_case("anchored") {
            return (RangeMode::Anchored, Some((j, end)));
        }
        if word.eq_ignore_ascii_case("smoothed") {
            return (RangeMode::Smoothed, Some((j, end)));
        }
        if !word.eq_ignore_ascii_case("offset") {
            return (RangeMode::Plain, None);
        }
        match offset_atom(input, end) {
            Ok((atom_end, _)) => j = atom_end,
            Err(_) => return (RangeMode::Plain, None),
        }
    }
}

/// After `offset`: the operand (an optionally signed literal, parenthesised
/// expression or duration function). Returns the end position and, when the operand
/// is not a plain (optionally negative) duration literal, its expression.
fn offset_atom(input: &str, from: usize) -> Result<(usize, Option<DurationExpr>), String> {
    let b = input.as_bytes();
    let mut j = from;
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    let start = j;
    if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
    }
    if j >= b.len() {
        return Ok((j, None));
    }
    let end = if b[j] == b'(' {
        match_paren(b, j).ok_or("unclosed left parenthesis")? + 1
    } else if is_ident_start(b[j]) {
        let e = ident_end(b, j);
        let mut k = e;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        if k < b.len() && b[k] == b'(' {
            match_paren(b, k).ok_or("unclosed left parenthesis")? + 1
        } else {
            e
        }
    } else {
        // A number or duration literal.
        let mut e = j;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'.' || b[e] == b'_') {
            e += 1;
        }
        e
    };
    let atom = &input[start..end];
    let body = atom.trim_start_matches(['-', '+']).trim();
    if is_plain_duration(body) {
        return Ok((end, None));
    }
    Ok((end, Some(parse_duration_expr(atom)?)))
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn ident_end(b: &[u8], from: usize) -> usize {
    let mut e = from;
    while e < b.len() && is_ident_char(b[e]) {
        e += 1;
    }
    e
}

/// Index just past the PromQL string literal that starts at `from` (its opening quote);
/// backslash escapes apply except in back-quoted raw strings. Unterminated: `b.len()`.
pub(crate) fn skip_string(b: &[u8], from: usize) -> usize {
    let q = b[from];
    let mut j = from + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
            continue;
        }
        if b[j] == q {
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

fn skip_braces(b: &[u8], from: usize) -> usize {
    let mut j = from + 1;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'`' => j = skip_string(b, j),
            b'}' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

fn find_close_bracket(b: &[u8], from: usize) -> Option<usize> {
    (from + 1..b.len()).find(|&j| b[j] == b']')
}

fn match_paren(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0;
    for (j, &c) in b.iter().enumerate().skip(from) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_level_colon(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// `1h30m`, `5m`, `100ms`: what every PromQL parser accepts as a duration.
fn is_plain_duration(s: &str) -> bool {
    parse_duration_literal(s.trim()).is_some()
}

/// Parses `<int><unit>...` with units in decreasing order; `None` if not one.
pub(crate) fn parse_duration_literal(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_unit = usize::MAX;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if last_unit != usize::MAX && idx <= last_unit {
            return None;
        }
        last_unit = idx;
        total = total.checked_add(n.checked_mul(UNITS[idx].1)?)?;
    }
    Some(total)
}

/// Parses a duration expression: `+ - * / % ^`, parentheses, unary signs, number
/// literals (seconds), duration literals, `step()`, `range()`, `min_of(a, b)`,
/// `max_of(a, b)`.
pub(crate) fn parse_duration_expr(s: &str) -> Result<DurationExpr, String> {
    let mut p = DurParser {
        s: s.as_bytes(),
        text: s,
        i: 0,
    };
    let e = p.sum()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "unexpected character in duration expression {:?}",
            &s[p.i..]
        ));
    }
    Ok(e)
}

struct DurParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl DurParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} in duration expression {:?}",
                c as char, self.text
            ))
        }
    }

    fn sum(&mut self) -> Result<DurationExpr, String> {
        let mut l = self.product()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let r = self.product()?;
            let op = if c == b'+' {
                DurationOp::Add
            } else {
                DurationOp::Sub
            };
            l = DurationExpr::Binary(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn product(&mut self) -> Result<DurationExpr, String> {
        let mut l = self.unary()?;
        while let Some(c @ (b'*' | b'/' | b'%')) = self.peek() {
            self.i += 1;
            let r = self.unary()?;
            let op = match c {
                b'*' => DurationOp::Mul,
                b'/' => DurationOp::Div,
                _ => DurationOp::Mod,
            };
            l = DurationExpr::Binary(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    /// Unary signs bind more loosely than `^`, as in PromQL (`-2^2 == -4`).
    fn unary(&mut self) -> Result<DurationExpr, String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(DurationExpr::Neg(Box::new(self.unary()?)))
            }
            Some(b'+') => {
                self.i += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<DurationExpr, String> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.i += 1;
            let exp = self.unary()?;
            return Ok(DurationExpr::Binary(
                DurationOp::Pow,
                Box::new(base),
                Box::new(exp),
            ));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<DurationExpr, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.sum()?;
                self.expect(b')')?;
                Ok(e)
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
                {
                    self.i += 1;
                }
                let word = self.text[start..self.i].to_ascii_lowercase();
                match word.as_str() {
                    "step" | "range" => {
                        self.expect(b'(')?;
                        self.expect(b')')?;
                        Ok(if word == "step" {
                            DurationExpr::Step
                        } else {
                            DurationExpr::Range
                        })
                    }
                    "min_of" | "max_of" => {
                        self.expect(b'(')?;
                        let a = self.sum()?;
                        self.expect(b',')?;
                        let b = self.sum()?;
                        self.expect(b')')?;
                        Ok(if word == "min_of" {
                            DurationExpr::MinOf(Box::new(a), Box::new(b))
                        } else {
                            DurationExpr::MaxOf(Box::new(a), Box::new(b))
                        })
                    }
                    "inf" | "nan" => Ok(DurationExpr::Seconds(if word == "inf" {
                        f64::INFINITY
                    } else {
                        f64::NAN
                    })),
                    _ => Err(format!("unexpected {word:?} in duration expression")),
                }
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'.')
                {
                    self.i += 1;
                }
                let lit = &self.text[start..self.i];
                if let Some(ms) = parse_duration_literal(lit) {
                    return Ok(DurationExpr::Millis(ms));
                }
                let v = if let Some(hex) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X"))
                {
                    i64::from_str_radix(hex, 16).map(|v| v as f64).ok()
                } else {
                    lit.parse::<f64>().ok()
                };
                v.map(DurationExpr::Seconds)
                    .ok_or_else(|| format!("bad number or duration syntax: {lit:?}"))
            }
            _ => Err(format!(
                "unexpected end of duration expression {:?}",
                self.text
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_syntax_is_untouched() {
        let q = r#"rate(foo{a="[x] offset 1+1"}[5m:1m] offset 1h) + bar offset -5m"#;
        let r = rewrite(q).unwrap();
        assert_eq!(r.text, q);
        assert!(r.placeholders.is_empty());
    }

    #[test]
    fn duration_expressions_become_placeholders() {
        let r = rewrite("changes(m[26m+4m]) + m offset (1h/2) + m offset -step()*2").unwrap();
        assert_eq!(r.placeholders.len(), 3);
        assert!(
            r.text
                .starts_with(&format!("changes(m[{PLACEHOLDER_BASE_HOURS}h])")),
            "{}",
            r.text
        );
        assert!(r.text.ends_with("*2"), "{}", r.text);
        assert_eq!(
            r.placeholders[2].duration,
            DurationExpr::Neg(Box::new(DurationExpr::Step))
        );
    }

    #[test]
    fn range_modes_are_recorded() {
        let r = rewrite("increase(m[1m] @ 5.000 anchored) + rate(m[5m]   SMOOTHED)").unwrap();
        assert!(r.text.contains("@ 5.000"), "{}", r.text);
        assert_eq!(r.placeholders[0].mode, RangeMode::Anchored);
        assert_eq!(r.placeholders[1].mode, RangeMode::Smoothed);
        assert_eq!(r.placeholders[1].duration, DurationExpr::Millis(300_000));
        assert!(
            !r.text.to_lowercase().contains("anchored")
                && !r.text.to_lowercase().contains("smoothed")
        );
    }

    #[test]
    fn smoothed_instant_selectors_get_a_marker() {
        let r = rewrite("metric offset -100s smoothed + m{a=\"b\"} @ 100 smoothed").unwrap();
        assert_eq!(
            r.text,
            format!("metric{{{SMOOTHED_MARKER}=\"1\"}} offset -100s  + m{{a=\"b\",{SMOOTHED_MARKER}=\"1\"}} @ 100 ")
        );
    }

    #[test]
    fn info_selector_gets_a_marker() {
        let r = rewrite(r#"info(rate(m[5m]), {data=~".*"})"#).unwrap();
        assert_eq!(
            r.text,
            format!(r#"info(rate(m[5m]), {{data=~".*",{INFO_SELECTOR_MARKER}="1"}})"#)
        );
    }

    #[test]
    fn precedence_of_unary_minus_and_power() {
        let e = parse_duration_expr("-2 ^ 2").unwrap();
        assert_eq!(
            e,
            DurationExpr::Neg(Box::new(DurationExpr::Binary(
                DurationOp::Pow,
                Box::new(DurationExpr::Seconds(2.0)),
                Box::new(DurationExpr::Seconds(2.0))
            )))
        );
        assert!(parse_duration_expr("1h +").is_err());
    }
}
