//! Label sets.

use std::fmt;

/// The reserved label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name; non-empty in any [`Labels`].
    pub name: String,
    /// Label value; non-empty in any [`Labels`].
    pub value: String,
}

impl Label {
    /// A pair from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set, always sorted by name with unique names and no empty values.
///
/// Sorting by name then value gives exactly Prometheus' `labels.Compare` order
/// through the derived `Ord`, which the HTTP API and the conformance files rely on
/// for the order of matrix results.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// An empty label set.
    pub fn empty() -> Labels {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. Empty values are dropped
    /// (Prometheus treats `l=""` as "label absent"); on duplicate names the last wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Labels {
        Labels::from_vec(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Builds from labels that may be unsorted; same rules as [`Labels::from_pairs`].
    pub fn from_vec(mut v: Vec<Label>) -> Labels {
        Labels::normalize(&mut v);
        Labels(v)
    }

    fn normalize(v: &mut Vec<Label>) {
        // Stable sort keeps input order among equal names, so "last wins" below.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v.drain(..) {
            if let Some(last) = out.last_mut() {
                if last.name == l.name {
                    *last = l;
                    continue;
                }
            }
            out.push(l);
        }
        out.retain(|l| !l.value.is_empty());
        *v = out;
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Label sets are small, so an equality scan (lengths first, bytes only when
        // they match) beats a binary search whose every probe is an ordering memcmp;
        // the query engine calls this per series per step (grouping, metric name).
        self.0
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// A stable 64-bit hash of the label set (xxh3 over `name 0xff value 0xff ...`).
    /// Used for sharding and hash maps; stable across processes and versions.
    pub fn stable_hash(&self) -> u64 {
        let mut buf = Vec::with_capacity(
            self.0
                .iter()
                .map(|l| l.name.len() + l.value.len() + 2)
                .sum(),
        );
        self.write_canonical(&mut buf);
        xxhash_rust::xxh3::xxh3_64(&buf)
    }

    /// Appends the canonical byte form `name 0xff value 0xff ...` (0xff never occurs in UTF-8).
    pub fn write_canonical(&self, buf: &mut Vec<u8>) {
        for l in &self.0 {
            buf.extend_from_slice(l.name.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(l.value.as_bytes());
            buf.push(0xff);
        }
    }

    /// A builder seeded with this label set, for set/delete edits.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.clone(),
        }
    }

    /// Copy without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the PromQL form: `name{a="b", c="d"}`; values are escaped as Go `%q` would.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(n) = name {
            f.write_str(n)?;
        }
        let rest: Vec<&Label> = self.0.iter().filter(|l| l.name != METRIC_NAME).collect();
        if rest.is_empty() && name.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Edits a label set; [`LabelsBuilder::build`] restores the sorted invariant.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> LabelsBuilder {
        LabelsBuilder::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        if !value.is_empty() {
            self.labels.push(Label::new(name, value));
        }
        self
    }

    pub fn delete(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        self
    }

    /// Keeps only the labels whose names are in `names`.
    pub fn keep(&mut self, names: &[&str]) -> &mut Self {
        self.labels.retain(|l| names.contains(&l.name.as_str()));
        self
    }

    pub fn build(&self) -> Labels {
        Labels::from_vec(self.labels.clone())
    }
}

/// Prometheus 3.x accepts any UTF-8 label name; the classic charset
/// `[a-zA-Z_][a-zA-Z0-9_]*` is what exposition formats and Prometheus 2.x senders use.
/// Ingestion rejects empty names and names that are not valid UTF-8 (guaranteed by `&str`).
pub fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Classic metric-name charset `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.as_slice(), &[Label::new("a", "1"), Label::new("b", "3")]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn get_finds_every_label_and_nothing_else() {
        let l = Labels::from_pairs([
            ("__name__", "up"),
            ("cluster", "c1"),
            ("instance", "h:9100"),
            ("job", "node"),
        ]);
        for x in l.iter() {
            assert_eq!(l.get(&x.name), Some(x.value.as_str()));
        }
        assert_eq!(l.metric_name(), Some("up"));
        // Same lengths as present names, different bytes.
        assert_eq!(l.get("clustex"), None);
        assert_eq!(l.get("jo"), None);
        assert_eq!(Labels::empty().get("job"), None);
    }

    #[test]
    fn display_is_promql_form() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(l.to_string(), r#"up{job="a\"b"}"#);
        assert_eq!(Labels::from_pairs([("__name__", "up")]).to_string(), "up");
        assert_eq!(Labels::from_pairs([("x", "1")]).to_string(), r#"{x="1"}"#);
    }

    #[test]
    fn ordering_matches_prometheus_compare() {
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let b = Labels::from_pairs([("a", "1"), ("c", "0")]);
        let c = Labels::from_pairs([("a", "1")]);
        assert!(a < b);
        assert!(c < a, "a prefix sorts first");
    }

    #[test]
    fn stable_hash_distinguishes_boundaries() {
        let a = Labels::from_pairs([("ab", "c")]);
        let b = Labels::from_pairs([("a", "bc")]);
        assert_ne!(a.stable_hash(), b.stable_hash());
        assert_eq!(
            a.stable_hash(),
            Labels::from_pairs([("ab", "c")]).stable_hash()
        );
    }

    #[test]
    fn metric_name_validation() {
        assert!(is_valid_metric_name("node_cpu:rate5m"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_label_name(""));
    }
}
