//! Postings of one (tenant, day) and Prometheus-semantics matcher evaluation on them.

use std::collections::HashMap;

use rustc_hash::FxHashSet;

use tidemark_model::{Labels, Matcher};

use crate::series::SeriesId;

#[derive(Default)]
pub(crate) struct DayIndex {
    ids: FxHashSet<SeriesId>,
    /// name → value → ids. Lists are append-only and may keep ids removed from `ids`;
    /// every lookup filters through `ids`, which keeps deletion O(1).
    postings: HashMap<String, HashMap<String, Vec<SeriesId>>>,
}

/// What one matcher contributes to the result.
enum Constraint {
    /// Only these ids can match.
    Within(Vec<SeriesId>),
    /// These ids cannot match (matchers that accept the empty value, e.g. `l!="x"`).
    Excluding(FxHashSet<SeriesId>),
}

impl DayIndex {
    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.ids.contains(&id)
    }

    pub(crate) fn add(&mut self, id: SeriesId, labels: &Labels) {
        if !self.ids.insert(id) {
            return;
        }
        for l in labels {
            self.postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(id);
        }
    }

    pub(crate) fn remove(&mut self, id: SeriesId) {
        self.ids.remove(&id);
    }

    /// Ids matching every matcher (ascending). No matchers match every series.
    pub(crate) fn matching(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        let mut within: Vec<Vec<SeriesId>> = Vec::new();
        let mut excluding: Vec<FxHashSet<SeriesId>> = Vec::new();
        for m in matchers {
            match self.constraint(m) {
                Constraint::Within(v) if v.is_empty() => return Vec::new(),
                Constraint::Within(v) => within.push(v),
                Constraint::Excluding(s) => excluding.push(s),
            }
        }
        within.sort_by_key(Vec::len);
        let mut result: Vec<SeriesId> = match within.split_first() {
            Some((smallest, rest)) => {
                let mut r = smallest.clone();
                for other in rest {
                    r.retain(|id| other.binary_search(id).is_ok());
                }
                r
            }
            None => {
                let mut all: Vec<SeriesId> = self.ids.iter().copied().collect();
                all.sort_unstable();
                all
            }
        };
        result.retain(|id| self.ids.contains(id) && excluding.iter().all(|ex| !ex.contains(id)));
        result
    }

    fn constraint(&self, m: &Matcher) -> Constraint {
        let values = self.postings.get(&m.name);
        if m.matches_empty() {
            // Series without the label match; exclude those whose value does not.
            let mut out = FxHashSet::default();
            if let Some(values) = values {
                for (v, ids) in values {
                    if !m.matches(v) {
                        out.extend(ids.iter().copied());
                    }
                }
            }
            return Constraint::Excluding(out);
        }
        let Some(values) = values else {
            return Constraint::Within(Vec::new());
        };
        let mut out = Vec::new();
        match m.set_matches() {
            Some(literals) => {
                for v in literals {
                    if let Some(ids) = values.get(v) {
                        out.extend_from_slice(ids);
                    }
                }
            }
            None => {
                for (v, ids) in values {
                    if m.matches(v) {
                        out.extend_from_slice(ids);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Constraint::Within(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::MatchOp;

    fn index() -> DayIndex {
        let mut d = DayIndex::default();
        d.add(1, &Labels::from_pairs([("__name__", "up"), ("job", "api")]));
        d.add(2, &Labels::from_pairs([("__name__", "up"), ("job", "db")]));
        d.add(3, &Labels::from_pairs([("__name__", "up")]));
        d.add(
            4,
            &Labels::from_pairs([("__name__", "down"), ("job", "api")]),
        );
        d
    }

    fn m(op: MatchOp, name: &str, v: &str) -> Matcher {
        Matcher::new(op, name, v).unwrap()
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let d = index();
        assert_eq!(
            d.matching(&[Matcher::equal("__name__", "up")]),
            vec![1, 2, 3]
        );
        assert_eq!(
            d.matching(&[
                Matcher::equal("__name__", "up"),
                m(MatchOp::NotEqual, "job", "api")
            ]),
            vec![2, 3]
        );
        assert_eq!(
            d.matching(&[Matcher::equal("__name__", "up"), Matcher::equal("job", "")]),
            vec![3]
        );
        assert_eq!(
            d.matching(&[m(MatchOp::Regex, "job", "api|db")]),
            vec![1, 2, 4]
        );
        assert_eq!(d.matching(&[m(MatchOp::Regex, "job", "a.*")]), vec![1, 4]);
        assert_eq!(
            d.matching(&[m(MatchOp::NotRegex, "job", "a.*")]),
            vec![2, 3]
        );
        assert_eq!(
            d.matching(&[m(MatchOp::Regex, "job", ".*")]),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            d.matching(&[Matcher::equal("nope", "x")]),
            Vec::<u64>::new()
        );
        assert_eq!(d.matching(&[]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn removed_ids_never_match() {
        let mut d = index();
        d.remove(2);
        assert_eq!(d.matching(&[Matcher::equal("__name__", "up")]), vec![1, 3]);
        assert_eq!(d.matching(&[m(MatchOp::NotEqual, "job", "api")]), vec![3]);
    }
}
