//! Label matchers with Prometheus semantics.
//!
//! Regexes are fully anchored (`^(?s:re)$`, as Prometheus compiles them) and the
//! Perl classes `\d \w \s` are ASCII-only, as in Go's RE2, rather than Unicode as in
//! the `regex` crate. Common shapes skip the regex engine entirely.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?} for label {name:?}: {reason}")]
    BadRegex {
        name: String,
        pattern: String,
        reason: String,
    },
}

/// One `name op "value"` matcher. A missing label matches as the empty string.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Arc<FastRegex>>,
    /// The query's value was bytes that are not valid UTF-8 (see
    /// [`Matcher::with_invalid_utf8_value`]); `value` is only how it is shown.
    invalid_utf8: bool,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Arc::new(FastRegex::new(&value).map_err(|reason| {
                    MatcherError::BadRegex {
                        name: name.clone(),
                        pattern: value.clone(),
                        reason,
                    }
                })?))
            }
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
            invalid_utf8: false,
        })
    }

    /// An `=` or `!=` matcher whose value in the query is not valid UTF-8 (PromQL's
    /// `"\xff"` is the byte 0xFF). Stored label values are UTF-8, so none equals it:
    /// `=` matches nothing and `!=` everything, as in Prometheus. `shown` is the
    /// value as displayed (invalid bytes replaced). `None` for regex operators,
    /// whose patterns must be UTF-8.
    pub fn with_invalid_utf8_value(
        op: MatchOp,
        name: impl Into<String>,
        shown: impl Into<String>,
    ) -> Option<Matcher> {
        matches!(op, MatchOp::Equal | MatchOp::NotEqual).then(|| Matcher {
            name: name.into(),
            op,
            value: shown.into(),
            re: None,
            invalid_utf8: true,
        })
    }

    /// Shorthand for an equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
            invalid_utf8: false,
        }
    }

    /// Whether a label value (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => !self.invalid_utf8 && v == self.value,
            MatchOp::NotEqual => self.invalid_utf8 || v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True when series *without* this label match, which decides whether an index
    /// lookup must consider "all series" rather than a posting list.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The literal values an `=` or literal-alternation `=~` matcher can accept, if finite.
    /// Lets the index turn `a|b|c` into three posting-list lookups.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match self.op {
            MatchOp::Equal if self.invalid_utf8 => Some(Vec::new()),
            MatchOp::Equal => Some(vec![self.value.as_str()]),
            MatchOp::Regex => match &self.re.as_deref()?.shape {
                Shape::Literals(v) => Some(v.iter().map(String::as_str).collect()),
                _ => None,
            },
            _ => None,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.name == o.name
            && self.op == o.op
            && self.value == o.value
            && self.invalid_utf8 == o.invalid_utf8
    }
}
impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// The recognised fast shapes of an anchored regex.
#[derive(Debug)]
enum Shape {
    /// `.*`
    Any,
    /// `.+`
    NonEmpty,
    /// `a|b|c` with no metacharacters (a single literal too).
    Literals(Vec<String>),
    /// `lit.*`
    Prefix(String),
    /// `.*lit`
    Suffix(String),
    /// `.*lit.*`
    Contains(String),
    /// Anything else: the compiled regex.
    General,
}

#[derive(Debug)]
struct FastRegex {
    shape: Shape,
    re: Regex,
}

impl FastRegex {
    fn new(pattern: &str) -> Result<FastRegex, String> {
        let translated = translate_go_classes(pattern);
        let re = Regex::new(&format!("^(?s:{translated})$")).map_err(|e| e.to_string())?;
        Ok(FastRegex {
            shape: classify(pattern),
            re,
        })
    }

    fn is_match(&self, v: &str) -> bool {
        match &self.shape {
            Shape::Any => true,
            Shape::NonEmpty => !v.is_empty(),
            Shape::Literals(l) => l.iter().any(|x| x == v),
            Shape::Prefix(p) => v.starts_with(p.as_str()),
            Shape::Suffix(s) => v.ends_with(s.as_str()),
            Shape::Contains(s) => v.contains(s.as_str()),
            Shape::General => self.re.is_match(v),
        }
    }
}

const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

fn is_plain(s: &str) -> bool {
    !s.contains(META)
}

fn classify(p: &str) -> Shape {
    if p == ".*" {
        return Shape::Any;
    }
    if p == ".+" {
        return Shape::NonEmpty;
    }
    if !p.contains(|c| META.contains(&c) && c != '|') {
        return Shape::Literals(p.split('|').map(str::to_string).collect());
    }
    if let Some(mid) = p.strip_prefix(".*").and_then(|r| r.strip_suffix(".*")) {
        if is_plain(mid) {
            return Shape::Contains(mid.to_string());
        }
    }
    if let Some(pre) = p.strip_suffix(".*") {
        if is_plain(pre) {
            return Shape::Prefix(pre.to_string());
        }
    }
    if let Some(suf) = p.strip_prefix(".*") {
        if is_plain(suf) {
            return Shape::Suffix(suf.to_string());
        }
    }
    Shape::General
}

/// Compiles `pattern` as Prometheus compiles label regexes (fully anchored, `.`
/// matching newlines, ASCII-only `\d \w \s` as in Go's RE2), for callers that need
/// capture groups, such as PromQL's `label_replace`.
pub fn compile_anchored_go_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{})$", translate_go_classes(pattern))).map_err(|e| e.to_string())
}

/// Rewrites `\d \D \w \W \s \S` to their ASCII (Go RE2) meaning, inside and outside
/// bracket classes.
fn translate_go_classes(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let (inner, negated) = match n {
                    'd' => ("0-9", false),
                    'D' => ("0-9", true),
                    'w' => ("0-9A-Za-z_", false),
                    'W' => ("0-9A-Za-z_", true),
                    's' => ("\\t\\n\\f\\r ", false),
                    'S' => ("\\t\\n\\f\\r ", true),
                    _ => {
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                };
                if in_class {
                    if negated {
                        // [^...] inside a class: use a nested class, which the regex crate supports.
                        out.push_str("[^");
                        out.push_str(inner);
                        out.push(']');
                    } else {
                        out.push_str(inner);
                    }
                } else {
                    out.push_str(if negated { "[^" } else { "[" });
                    out.push_str(inner);
                    out.push(']');
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading ']' (after optional '^') is a literal in RE2.
                if let Some(caret) = chars.next_if_eq(&'^') {
                    out.push(caret);
                }
                if chars.next_if_eq(&']').is_some() {
                    out.push_str("\\]");
                }
            }
            '[' if in_class => {
                // POSIX class like [:alpha:] or a literal '['.
                if chars.peek() == Some(&':') {
                    out.push('[');
                    for c2 in chars.by_ref() {
                        out.push(c2);
                        if c2 == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Go reads a `{` that does not start `{n}`, `{n,}` or `{n,m}` as a literal
            // (`a{b}`, `a{,2}`); the regex crate refuses it.
            '{' if !in_class && !starts_repeat(chars.clone()) => out.push_str("\\{"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether the text after a `{` is the rest of a repetition: `n}`, `n,}` or `n,m}`.
fn starts_repeat(mut rest: impl Iterator<Item = char>) -> bool {
    let mut digits = 0;
    let mut c = rest.next();
    while c.is_some_and(|d| d.is_ascii_digit()) {
        digits += 1;
        c = rest.next();
    }
    if digits == 0 {
        return false;
    }
    if c == Some(',') {
        c = rest.next();
        while c.is_some_and(|d| d.is_ascii_digit()) {
            c = rest.next();
        }
    }
    c == Some('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).unwrap()
    }

    #[test]
    fn invalid_utf8_values_equal_no_stored_value() {
        let shown = "\u{fffd}";
        let eq = Matcher::with_invalid_utf8_value(MatchOp::Equal, "l", shown).unwrap();
        // Not even the replacement character it is shown as.
        assert!(!eq.matches(shown) && !eq.matches(""));
        assert_eq!(eq.set_matches(), Some(vec![]));
        let ne = Matcher::with_invalid_utf8_value(MatchOp::NotEqual, "l", shown).unwrap();
        assert!(ne.matches(shown) && ne.matches("") && ne.matches_empty());
        assert_ne!(eq, Matcher::equal("l", shown));
        assert!(Matcher::with_invalid_utf8_value(MatchOp::Regex, "l", shown).is_none());
    }

    #[test]
    fn braces_that_are_no_repetition_are_literal_as_in_go() {
        assert!(m(MatchOp::Regex, "a{b}").matches("a{b}"));
        assert!(m(MatchOp::Regex, "a{,2}").matches("a{,2}"));
        assert!(m(MatchOp::Regex, "x{").matches("x{"));
        assert!(m(MatchOp::Regex, "a{2}").matches("aa"));
        assert!(m(MatchOp::Regex, "a{1,}b{0,1}").matches("aaab"));
        assert!(m(MatchOp::Regex, "[{]").matches("{"));
    }

    #[test]
    fn regex_is_fully_anchored() {
        let r = m(MatchOp::Regex, "foo|bar");
        assert!(r.matches("foo"));
        assert!(!r.matches("foobar"));
        assert!(!m(MatchOp::Regex, "o+").matches("foo"));
        assert!(m(MatchOp::Regex, "f.*o").matches("foo"));
    }

    #[test]
    fn dot_matches_newline_like_prometheus() {
        assert!(m(MatchOp::Regex, "a.b").matches("a\nb"));
    }

    #[test]
    fn perl_classes_are_ascii() {
        let d = m(MatchOp::Regex, r"\d+");
        assert!(d.matches("123"));
        assert!(!d.matches("١٢٣"), "Arabic-Indic digits are not \\d in Go");
        assert!(!m(MatchOp::Regex, r"\w").matches("é"));
        assert!(m(MatchOp::Regex, r"[\d_]+").matches("1_2"));
        assert!(m(MatchOp::Regex, r"[^\d]").matches("x"));
        assert!(m(MatchOp::Regex, r"[\D]").matches("x"));
        assert!(!m(MatchOp::Regex, r"[\D]").matches("1"));
    }

    #[test]
    fn fast_shapes_agree_with_general_regex() {
        let cases = [".*", ".+", "a|bc|", "abc.*", ".*abc", ".*b.*", "x"];
        let inputs = ["", "a", "bc", "abc", "abcd", "zabc", "b", "x", "xx"];
        for p in cases {
            let fast = FastRegex::new(p).unwrap();
            for i in inputs {
                assert_eq!(
                    fast.is_match(i),
                    fast.re.is_match(i),
                    "pattern {p:?} input {i:?}"
                );
            }
        }
    }

    #[test]
    fn empty_and_negative_semantics() {
        assert!(m(MatchOp::NotEqual, "x").matches_empty());
        assert!(!m(MatchOp::Regex, ".+").matches_empty());
        assert!(m(MatchOp::NotRegex, "a").matches(""));
        assert!(!m(MatchOp::NotRegex, "a").matches("a"));
        assert_eq!(m(MatchOp::Regex, "a|b").set_matches(), Some(vec!["a", "b"]));
        assert_eq!(m(MatchOp::Regex, "a.*").set_matches(), None);
    }

    #[test]
    fn anchored_go_regex_has_captures() {
        let re = compile_anchored_go_regex(r"(\w+)-(\d+)").unwrap();
        let caps = re.captures("ab-12").unwrap();
        assert_eq!((&caps[1], &caps[2]), ("ab", "12"));
        assert!(re.captures("xab-12y!").is_none(), "anchored");
        assert!(re.captures("ab-\u{663}").is_none(), "ASCII digits only");
        assert!(compile_anchored_go_regex("(").is_err());
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::Regex, "l", "(").is_err());
    }
}
