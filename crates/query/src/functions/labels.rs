//! Label kernels: `label_replace`, `label_join` and the ordering of
//! `sort_by_label` / `sort_by_label_desc`.

use std::cmp::Ordering;

use regex::{Captures, Regex};
use tidemark_model::{compile_anchored_go_regex, Labels};

use crate::QueryError;

/// A compiled `label_replace(v, dst, replacement, src, regex)`.
#[derive(Debug, Clone)]
pub(crate) struct LabelReplace {
    dst: String,
    replacement: String,
    src: String,
    regex: Regex,
}

impl LabelReplace {
    /// Validates the arguments once per query. The regex is compiled as Prometheus
    /// does: anchored at both ends, `.` matching newlines, ASCII `\d \w \s`.
    pub(crate) fn new(
        dst: &str,
        replacement: &str,
        src: &str,
        regex: &str,
    ) -> Result<LabelReplace, QueryError> {
        let compiled = compile_anchored_go_regex(regex).map_err(|_| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {regex}"
            ))
        })?;
        if !is_valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        Ok(LabelReplace {
            dst: dst.to_string(),
            replacement: replacement.to_string(),
            src: src.to_string(),
            regex: compiled,
        })
    }

    /// The new label set, or `None` when the regex does not match the source value
    /// (a missing source label is the empty string). An empty result deletes `dst`.
    pub(crate) fn apply(&self, labels: &Labels) -> Option<Labels> {
        let src_value = labels.get(&self.src).unwrap_or("");
        let caps = self.regex.captures(src_value)?;
        let value = expand(&self.replacement, &caps);
        Some(labels.builder().set(&self.dst, &value).build())
    }
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` like Go's `Regexp.Expand`: a
/// name is the longest run of letters, digits and `_` (so `$1x` means group `1x`);
/// unknown or unmatched groups expand to nothing; a malformed reference such as
/// `${x` or a lone `$` is kept literally.
fn expand(template: &str, caps: &Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match parse_group_ref(rest) {
            Some((name, after)) => {
                let group = match group_number(name) {
                    Some(n) => caps.get(n),
                    None => caps.name(name),
                };
                if let Some(m) = group {
                    out.push_str(m.as_str());
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
    out
}

/// Splits `name…` or `{name}…` off the text after a `$`.
fn parse_group_ref(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = &body[end..];
    if braced {
        return rest.strip_prefix('}').map(|r| (name, r));
    }
    Some((name, rest))
}

/// A group number as Go reads it: ASCII digits, no leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit())
        || (name.len() > 1 && name.starts_with('0'))
        || name.len() > 8
    {
        return None;
    }
    name.parse().ok()
}

/// A compiled `label_join(v, dst, separator, src…)`.
#[derive(Debug, Clone)]
pub(crate) struct LabelJoin {
    dst: String,
    separator: String,
    sources: Vec<String>,
}

impl LabelJoin {
    pub(crate) fn new(
        dst: &str,
        separator: &str,
        sources: &[&str],
    ) -> Result<LabelJoin, QueryError> {
        if let Some(bad) = sources.iter().find(|s| !is_valid_label_name(s)) {
            return Err(QueryError::Execution(format!(
                "invalid source label name in label_join(): {bad}"
            )));
        }
        if !is_valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        Ok(LabelJoin {
            dst: dst.to_string(),
            separator: separator.to_string(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Sets `dst` to the source values (missing ones as empty) joined by the
    /// separator; an empty result deletes `dst`.
    pub(crate) fn apply(&self, labels: &Labels) -> Labels {
        let values: Vec<&str> = self
            .sources
            .iter()
            .map(|s| labels.get(s).unwrap_or(""))
            .collect();
        labels
            .builder()
            .set(&self.dst, &values.join(&self.separator))
            .build()
    }
}

/// Prometheus 3.x accepts any non-empty UTF-8 label name here.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// `sort_by_label` order: the given labels' values in natural order (missing =
/// empty), then the full label sets as a tie-breaker. `sort_by_label_desc` is the
/// exact reverse.
pub(crate) fn compare_by_labels(a: &Labels, b: &Labels, names: &[&str]) -> Ordering {
    for name in names {
        let (va, vb) = (a.get(name).unwrap_or(""), b.get(name).unwrap_or(""));
        if va != vb {
            return natural_cmp(va, vb);
        }
    }
    a.cmp(b)
}

/// Natural ("human") string order: runs of ASCII digits compare by numeric value,
/// other runs as bytes, run by run, so `cpu2 < cpu10`; a string whose runs are a
/// prefix of the other's sorts first, remaining ties (`a01` vs `a1`) go by bytes.
///
/// Agrees with the natsort package Prometheus uses wherever that one is
/// consistent, but is a true total order (sorting must not depend on input order,
/// and Rust's sort may panic on inconsistent comparators). Deliberate differences:
/// the empty string sorts first, and digit runs beyond 64 bits still compare
/// numerically.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let is_number = |s: &str| s.as_bytes()[0].is_ascii_digit();
        let o = if is_number(x) && is_number(y) {
            cmp_digit_runs(x, y)
        } else {
            x.cmp(y)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// Numeric comparison of two non-empty ASCII digit strings of any length.
fn cmp_digit_runs(x: &str, y: &str) -> Ordering {
    let x = x.trim_start_matches('0');
    let y = y.trim_start_matches('0');
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// Maximal runs of ASCII digits and of non-digits.
fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_digit = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        if prev_digit.is_some_and(|p| p != d) {
            out.push(&s[start..i]);
            start = i;
        }
        prev_digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    // functions.test label_replace cases on testmetric{src="source-value-10", dst=…}.
    #[test]
    fn label_replace_full_match_and_groups() {
        let m = l(&[
            ("__name__", "testmetric"),
            ("src", "source-value-10"),
            ("dst", "original"),
        ]);
        let r =
            LabelReplace::new("dst", "destination-value-$1", "src", "source-value-(.*)").unwrap();
        assert_eq!(
            r.apply(&m).unwrap().get("dst"),
            Some("destination-value-10")
        );
        // Not a substring match.
        let r = LabelReplace::new("dst", "x-$1", "src", "value-(.*)").unwrap();
        assert_eq!(r.apply(&m), None);
        let r = LabelReplace::new("dst", "$1-value-$2", "src", "(.*)-value-(.*)").unwrap();
        assert_eq!(r.apply(&m).unwrap().get("dst"), Some("source-value-10"));
        // Missing source matches as "".
        let r = LabelReplace::new("dst", "value-$1", "nonexistent-src", "(.*)").unwrap();
        assert_eq!(r.apply(&m).unwrap().get("dst"), Some("value-"));
        let r =
            LabelReplace::new("dst", "value-$1", "nonexistent-src", "source-value-(.*)").unwrap();
        assert_eq!(r.apply(&m), None);
        // Empty result deletes the label.
        let r = LabelReplace::new("dst", "", "dst", ".*").unwrap();
        assert_eq!(r.apply(&m).unwrap().get("dst"), None);
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let m = l(&[("src", "\u{663}\u{664}")]); // Arabic-Indic digits
        let r = LabelReplace::new("dst", "$1", "src", r"(\d+)").unwrap();
        assert_eq!(r.apply(&m), None);
        let m = l(&[("src", "ab\n12")]);
        let r = LabelReplace::new("dst", "$1-$2", "src", r"(\w+).(\d+)").unwrap();
        assert_eq!(r.apply(&m).unwrap().get("dst"), Some("ab-12"));
    }

    #[test]
    fn label_replace_errors() {
        let e = LabelReplace::new("dst", "v", "src", "(.*").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid regular expression in label_replace(): (.*"
        );
        let e = LabelReplace::new("", "v", "src", "(.*)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid destination label name in label_replace(): "
        );
    }

    #[test]
    fn go_expand_rules() {
        let re = Regex::new("^(?s:(?P<word>[a-z]+)-(\\d+))$").unwrap();
        let caps = re.captures("abc-42").unwrap();
        assert_eq!(expand("$1/$2", &caps), "abc/42");
        assert_eq!(expand("${1}x", &caps), "abcx");
        assert_eq!(expand("$1x", &caps), ""); // group "1x" does not exist
        assert_eq!(expand("${word}.$word", &caps), "abc.abc");
        assert_eq!(expand("$$1 costs $", &caps), "$1 costs $");
        assert_eq!(expand("${1", &caps), "${1");
        assert_eq!(expand("$9", &caps), "");
        assert_eq!(expand("$01", &caps), "");
    }

    // functions.test label_join cases.
    #[test]
    fn label_join_joins_in_order() {
        let m = l(&[("src", "a"), ("src1", "b"), ("src2", "c"), ("dst", "orig")]);
        let j = LabelJoin::new("dst", "-", &["src", "src1", "src2"]).unwrap();
        assert_eq!(j.apply(&m).get("dst"), Some("a-b-c"));
        let j = LabelJoin::new("dst", "-", &["src", "src3", "src1"]).unwrap();
        assert_eq!(j.apply(&m).get("dst"), Some("a--b"));
        let j = LabelJoin::new("dst", ", ", &[]).unwrap();
        assert_eq!(j.apply(&m).get("dst"), None);
        assert!(LabelJoin::new("dst", "", &[""]).is_err());
        assert!(LabelJoin::new("", "", &["a"]).is_err());
    }

    // functions.test sort_by_label(cpu_time_total, "cpu"): cpu 0..20 in numeric order.
    #[test]
    fn natural_order() {
        let mut v = vec!["cpu10", "cpu2", "cpu1", "cpu", "cpu20b", "cpu20a", "cpu3"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["cpu", "cpu1", "cpu2", "cpu3", "cpu10", "cpu20a", "cpu20b"]
        );
        assert_eq!(natural_cmp("10", "9"), Ordering::Greater);
        assert_eq!(natural_cmp("", "a"), Ordering::Less);
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Less);
        assert_eq!(natural_cmp("a1", "a1b"), Ordering::Less);
        assert_eq!(natural_cmp("a1b", "a01c"), Ordering::Less);
        assert_eq!(natural_cmp("x-9", "x-10"), Ordering::Less);
        assert_eq!(
            natural_cmp("99999999999999999999", "100000000000000000000"),
            Ordering::Less
        );
    }

    // A comparator that is not a total order would make sorting depend on the
    // input order (and may panic); check transitivity on tricky strings.
    #[test]
    fn natural_order_is_total() {
        let words = [
            "",
            "a",
            "a1",
            "a01",
            "a1b",
            "a01c",
            "2",
            "10",
            "15555555555555555555",
            "9",
            "-",
            "ü1",
            "a 1",
            "a1 ",
            "01",
            "1",
        ];
        for x in words {
            assert_eq!(natural_cmp(x, x), Ordering::Equal);
            for y in words {
                assert_eq!(
                    natural_cmp(x, y),
                    natural_cmp(y, x).reverse(),
                    "{x:?} {y:?}"
                );
                for z in words {
                    if natural_cmp(x, y) != Ordering::Greater
                        && natural_cmp(y, z) != Ordering::Greater
                    {
                        assert_ne!(
                            natural_cmp(x, z),
                            Ordering::Greater,
                            "{x:?} <= {y:?} <= {z:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn compare_by_labels_breaks_ties_with_full_labels() {
        let a = l(&[
            ("group", "canary"),
            ("instance", "0"),
            ("job", "app-server"),
        ]);
        let b = l(&[
            ("group", "production"),
            ("instance", "0"),
            ("job", "api-server"),
        ]);
        let c = l(&[
            ("group", "canary"),
            ("instance", "1"),
            ("job", "api-server"),
        ]);
        assert_eq!(compare_by_labels(&a, &b, &["instance"]), Ordering::Less);
        assert_eq!(compare_by_labels(&b, &c, &["instance"]), Ordering::Less);
        assert_eq!(compare_by_labels(&a, &b, &["job"]), Ordering::Greater);
        assert_eq!(compare_by_labels(&a, &a, &["job"]), Ordering::Equal);
    }
}
