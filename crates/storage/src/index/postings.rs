//! Postings of one (tenant, day) and Prometheus-semantics matcher evaluation on them.
//!
//! A day is layered: an immutable [`FrozenPostings`] (loaded from the day's postings
//! file or built by the last compaction) plus [`RecentPostings`] for the series added
//! since, which a compaction folds into a new frozen layer. Lookups union the layers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rustc_hash::FxHashSet;

use tidemark_model::{Labels, Matcher};

use crate::index::frozen::{EncodedIds, FrozenPostings, SortedPostings};
use crate::series::SeriesId;
use crate::wire::WireError;

/// Series added since the last compaction, in a form cheap to add to.
#[derive(Default)]
pub(crate) struct RecentPostings {
    ids: FxHashSet<SeriesId>,
    /// name → value → ids, in insertion order (ascending only by accident).
    postings: HashMap<String, HashMap<String, Vec<SeriesId>>>,
}

impl RecentPostings {
    fn add(&mut self, id: SeriesId, labels: &Labels) {
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

    /// Takes over everything `other` holds.
    fn absorb(&mut self, other: &RecentPostings) {
        self.ids.extend(other.ids.iter().copied());
        for (name, values) in &other.postings {
            let mine = self.postings.entry(name.clone()).or_default();
            for (value, ids) in values {
                mine.entry(value.clone())
                    .or_default()
                    .extend_from_slice(ids);
            }
        }
    }
}

/// What one layer of a day can answer; results of all layers are unioned.
trait Layer {
    fn contains(&self, id: SeriesId) -> bool;
    /// The id lists of label `m.name`'s values that `m` matches.
    fn matching_lists<'a>(&'a self, m: &Matcher, out: &mut Vec<IdList<'a>>);
    /// Ids that have label `m.name` with a value `m` does not match.
    fn extend_not_matching(&self, m: &Matcher, out: &mut FxHashSet<SeriesId>);
    fn extend_all(&self, out: &mut Vec<SeriesId>);
}

impl Layer for FrozenPostings {
    fn contains(&self, id: SeriesId) -> bool {
        FrozenPostings::contains(self, id)
    }

    fn matching_lists<'a>(&'a self, m: &Matcher, out: &mut Vec<IdList<'a>>) {
        match m.set_matches() {
            Some(literals) => {
                out.extend(
                    literals
                        .iter()
                        .filter_map(|v| self.list_with(&m.name, v))
                        .map(IdList::Encoded),
                );
            }
            None => self.for_each_list(&m.name, |v, ids| {
                if m.matches(v) {
                    out.push(IdList::Encoded(ids));
                }
            }),
        }
    }

    fn extend_not_matching(&self, m: &Matcher, out: &mut FxHashSet<SeriesId>) {
        self.for_each_list(&m.name, |v, ids| {
            if !m.matches(v) {
                out.extend(ids.iter());
            }
        });
    }

    fn extend_all(&self, out: &mut Vec<SeriesId>) {
        out.extend(self.ids());
    }
}

impl Layer for RecentPostings {
    fn contains(&self, id: SeriesId) -> bool {
        self.ids.contains(&id)
    }

    fn matching_lists<'a>(&'a self, m: &Matcher, out: &mut Vec<IdList<'a>>) {
        let Some(values) = self.postings.get(&m.name) else {
            return;
        };
        match m.set_matches() {
            Some(literals) => {
                out.extend(
                    literals
                        .iter()
                        .filter_map(|v| values.get(*v))
                        .map(|ids| IdList::Unordered(ids)),
                );
            }
            None => {
                for (v, ids) in values {
                    if m.matches(v) {
                        out.push(IdList::Unordered(ids));
                    }
                }
            }
        }
    }

    fn extend_not_matching(&self, m: &Matcher, out: &mut FxHashSet<SeriesId>) {
        if let Some(values) = self.postings.get(&m.name) {
            for (v, ids) in values {
                if !m.matches(v) {
                    out.extend(ids.iter().copied());
                }
            }
        }
    }

    fn extend_all(&self, out: &mut Vec<SeriesId>) {
        out.extend(self.ids.iter().copied());
    }
}

#[derive(Default)]
pub(crate) struct DayIndex {
    frozen: Arc<FrozenPostings>,
    /// The previous `recent` while a compaction folds it into a new `frozen`.
    merging: Option<Arc<RecentPostings>>,
    recent: RecentPostings,
    /// Ids no lookup may return although a layer lists them: deleted series, and
    /// series a stale postings file lists but no part holds.
    removed: FxHashSet<SeriesId>,
}

/// One id list a matcher selects, in the form its layer keeps it.
#[derive(Clone, Copy)]
enum IdList<'a> {
    /// A frozen layer's list: ascending, decoded while walked.
    Encoded(EncodedIds<'a>),
    /// A recent layer's list, in insertion order.
    Unordered(&'a [SeriesId]),
}

impl IdList<'_> {
    fn len(&self) -> usize {
        match self {
            IdList::Encoded(ids) => ids.len(),
            IdList::Unordered(ids) => ids.len(),
        }
    }

    /// Sets `hit[i]` for every `candidates[i]` (ascending, unique) this list holds.
    fn mark_hits(&self, candidates: &[SeriesId], hit: &mut [bool]) {
        match self {
            IdList::Encoded(ids) => {
                // Both ascending: one merge walk, stopped once past the last candidate.
                let mut next = 0;
                for id in ids.iter() {
                    while next < candidates.len() && candidates[next] < id {
                        next += 1;
                    }
                    if next == candidates.len() {
                        break;
                    }
                    if candidates[next] == id {
                        hit[next] = true;
                    }
                }
            }
            IdList::Unordered(ids) => {
                for id in ids.iter() {
                    if let Ok(i) = candidates.binary_search(id) {
                        hit[i] = true;
                    }
                }
            }
        }
    }
}

/// The lists of one matcher that does not match the empty value: a series matches
/// it when any list holds its id.
struct Selection<'a> {
    lists: Vec<IdList<'a>>,
    /// Sum of the lists' lengths: the most ids the matcher can select.
    bound: usize,
}

impl Selection<'_> {
    /// Its ids, ascending and unique.
    fn ids(&self) -> Vec<SeriesId> {
        let mut out = Vec::with_capacity(self.bound);
        for list in &self.lists {
            match list {
                IdList::Encoded(ids) => out.extend(ids.iter()),
                IdList::Unordered(ids) => out.extend_from_slice(ids),
            }
        }
        // A single frozen list is already ascending and unique.
        if !matches!(self.lists[..], [IdList::Encoded(_)]) {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Keeps the `candidates` (ascending, unique) some list holds.
    fn retain_selected(&self, candidates: &mut Vec<SeriesId>) {
        let mut hit = vec![false; candidates.len()];
        for list in &self.lists {
            list.mark_hits(candidates, &mut hit);
        }
        let mut hits = hit.into_iter();
        candidates.retain(|_| hits.next().unwrap_or(false));
    }
}

/// A snapshot of a day's layers for building its next frozen layer outside the lock.
pub(crate) struct Compaction {
    frozen: Arc<FrozenPostings>,
    merging: Arc<RecentPostings>,
    removed: FxHashSet<SeriesId>,
}

impl Compaction {
    /// The new frozen layer: both layers' series minus the removed ones.
    pub(crate) fn build(&self) -> Result<FrozenPostings, WireError> {
        let keep = |id: &SeriesId| !self.removed.contains(id);
        let mut postings: SortedPostings<'_> = BTreeMap::new();
        self.frozen.for_each_pair(|name, value, ids| {
            postings
                .entry(name)
                .or_default()
                .insert(value, ids.filter(keep).collect());
        });
        for (name, values) in &self.merging.postings {
            let lists = postings.entry(name.as_str()).or_default();
            for (value, ids) in values {
                lists
                    .entry(value.as_str())
                    .or_default()
                    .extend(ids.iter().copied().filter(keep));
            }
        }
        for lists in postings.values_mut() {
            lists.retain(|_, ids| {
                ids.sort_unstable();
                ids.dedup();
                !ids.is_empty()
            });
        }
        postings.retain(|_, lists| !lists.is_empty());
        let mut ids: Vec<SeriesId> = self
            .frozen
            .ids()
            .chain(self.merging.ids.iter().copied())
            .filter(keep)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        FrozenPostings::build(ids, &postings)
    }
}

impl DayIndex {
    /// A day whose series are all in `frozen`.
    pub(crate) fn from_frozen(frozen: FrozenPostings) -> DayIndex {
        DayIndex {
            frozen: Arc::new(frozen),
            ..DayIndex::default()
        }
    }

    fn layers(&self) -> impl Iterator<Item = &dyn Layer> {
        [
            Some(&*self.frozen as &dyn Layer),
            self.merging.as_deref().map(|m| m as &dyn Layer),
            Some(&self.recent as &dyn Layer),
        ]
        .into_iter()
        .flatten()
    }

    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        if !self.removed.is_empty() && self.removed.contains(&id) {
            return false;
        }
        self.layers().any(|l| l.contains(id))
    }

    pub(crate) fn add(&mut self, id: SeriesId, labels: &Labels) {
        if self.contains(id) {
            return;
        }
        // Added again after removal (a WAL replay re-adding a series a stale file
        // listed): `recent` takes it, whatever older layers hold.
        self.removed.remove(&id);
        self.recent.add(id, labels);
    }

    pub(crate) fn remove(&mut self, id: SeriesId) {
        if self.layers().any(|l| l.contains(id)) {
            self.removed.insert(id);
        }
    }

    /// Series in the frozen layer.
    pub(crate) fn frozen(&self) -> &Arc<FrozenPostings> {
        &self.frozen
    }

    /// Series added (or removed) since the frozen layer was built.
    pub(crate) fn changed_since_frozen(&self) -> usize {
        self.recent.ids.len()
            + self.merging.as_ref().map_or(0, |m| m.ids.len())
            + self.removed.len()
    }

    /// Moves `recent` aside for a compaction; `None` while one is already running.
    pub(crate) fn begin_compaction(&mut self) -> Option<Compaction> {
        if self.merging.is_some() {
            return None;
        }
        let merging = Arc::new(std::mem::take(&mut self.recent));
        self.merging = Some(merging.clone());
        Some(Compaction {
            frozen: self.frozen.clone(),
            merging,
            removed: self.removed.clone(),
        })
    }

    /// Installs what [`Compaction::build`] made of `compaction`, or, on `None`,
    /// returns the moved-aside series to `recent`.
    pub(crate) fn finish_compaction(
        &mut self,
        compaction: &Compaction,
        built: Option<FrozenPostings>,
    ) {
        let Some(merging) = self.merging.take() else {
            return;
        };
        match built {
            Some(frozen) => {
                self.frozen = Arc::new(frozen);
                // The new layer leaves out the ids removed before the snapshot.
                self.removed.retain(|id| !compaction.removed.contains(id));
            }
            None => self.recent.absorb(&merging),
        }
    }

    /// Ids matching every matcher (ascending). No matchers match every series.
    ///
    /// Only the matcher selecting the fewest ids is decoded into a list; the other
    /// lists are walked to keep the candidates they hold. A one-host selector
    /// (`metric{instance="h"}`) thus never materialises the metric's whole list.
    pub(crate) fn matching(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        let mut selections: Vec<Selection<'_>> = Vec::new();
        let mut excluding: Vec<FxHashSet<SeriesId>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                // Series without the label match; exclude those whose value does not.
                let mut out = FxHashSet::default();
                for layer in self.layers() {
                    layer.extend_not_matching(m, &mut out);
                }
                excluding.push(out);
                continue;
            }
            let mut lists = Vec::new();
            for layer in self.layers() {
                layer.matching_lists(m, &mut lists);
            }
            let bound = lists.iter().map(IdList::len).sum();
            if bound == 0 {
                return Vec::new();
            }
            selections.push(Selection { lists, bound });
        }
        selections.sort_by_key(|s| s.bound);
        let mut result: Vec<SeriesId> = match selections.split_first() {
            Some((smallest, rest)) => {
                let mut r = smallest.ids();
                for other in rest {
                    if r.is_empty() {
                        break;
                    }
                    other.retain_selected(&mut r);
                }
                r
            }
            None => {
                let mut all = Vec::new();
                for layer in self.layers() {
                    layer.extend_all(&mut all);
                }
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        if !self.removed.is_empty() || !excluding.is_empty() {
            result.retain(|id| {
                !self.removed.contains(id) && excluding.iter().all(|ex| !ex.contains(id))
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::MatchOp;

    fn series() -> Vec<(SeriesId, Labels)> {
        vec![
            (1, Labels::from_pairs([("__name__", "up"), ("job", "api")])),
            (2, Labels::from_pairs([("__name__", "up"), ("job", "db")])),
            (3, Labels::from_pairs([("__name__", "up")])),
            (
                4,
                Labels::from_pairs([("__name__", "down"), ("job", "api")]),
            ),
        ]
    }

    /// The same four series, laid out across the layers in every way that matters:
    /// all recent, all frozen, split between frozen and recent, and mid-compaction.
    fn layouts() -> Vec<(&'static str, DayIndex)> {
        let all_recent = || {
            let mut d = DayIndex::default();
            for (id, l) in series() {
                d.add(id, &l);
            }
            d
        };
        let compact = |d: &mut DayIndex| {
            let c = d.begin_compaction().unwrap();
            let built = c.build().unwrap();
            d.finish_compaction(&c, Some(built));
        };
        let mut all_frozen = all_recent();
        compact(&mut all_frozen);
        let mut split = DayIndex::default();
        for (id, l) in &series()[..2] {
            split.add(*id, l);
        }
        compact(&mut split);
        for (id, l) in &series()[2..] {
            split.add(*id, l);
        }
        let mut mid_compaction = DayIndex::default();
        for (id, l) in &series()[..3] {
            mid_compaction.add(*id, l);
        }
        let _in_progress = mid_compaction.begin_compaction().unwrap();
        let (id, l) = &series()[3];
        mid_compaction.add(*id, l);
        vec![
            ("recent", all_recent()),
            ("frozen", all_frozen),
            ("split", split),
            ("mid-compaction", mid_compaction),
        ]
    }

    fn m(op: MatchOp, name: &str, v: &str) -> Matcher {
        Matcher::new(op, name, v).unwrap()
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        for (layout, d) in layouts() {
            let check = |matchers: &[Matcher], want: Vec<SeriesId>| {
                assert_eq!(d.matching(matchers), want, "{layout}: {matchers:?}");
            };
            check(&[Matcher::equal("__name__", "up")], vec![1, 2, 3]);
            check(
                &[
                    Matcher::equal("__name__", "up"),
                    m(MatchOp::NotEqual, "job", "api"),
                ],
                vec![2, 3],
            );
            check(
                &[Matcher::equal("__name__", "up"), Matcher::equal("job", "")],
                vec![3],
            );
            check(&[m(MatchOp::Regex, "job", "api|db")], vec![1, 2, 4]);
            check(&[m(MatchOp::Regex, "job", "a.*")], vec![1, 4]);
            check(&[m(MatchOp::NotRegex, "job", "a.*")], vec![2, 3]);
            check(&[m(MatchOp::Regex, "job", ".*")], vec![1, 2, 3, 4]);
            check(&[m(MatchOp::Regex, "job", ".+")], vec![1, 2, 4]);
            check(
                &[
                    Matcher::equal("__name__", "up"),
                    Matcher::equal("job", "db"),
                ],
                vec![2],
            );
            check(
                &[
                    m(MatchOp::Regex, "job", "api|db"),
                    Matcher::equal("__name__", "up"),
                    m(MatchOp::Regex, "__name__", "u.*|d.*"),
                ],
                vec![1, 2],
            );
            check(
                &[
                    Matcher::equal("__name__", "down"),
                    Matcher::equal("job", "db"),
                ],
                vec![],
            );
            check(&[Matcher::equal("nope", "x")], vec![]);
            check(&[m(MatchOp::NotEqual, "nope", "x")], vec![1, 2, 3, 4]);
            check(&[], vec![1, 2, 3, 4]);
            assert!(d.contains(4) && !d.contains(5), "{layout}");
        }
    }

    #[test]
    fn intersections_agree_with_filtering_every_series() {
        let labels_of = |id: SeriesId| {
            Labels::from_pairs([
                (
                    "__name__",
                    if id.is_multiple_of(3) { "a" } else { "b" }.to_string(),
                ),
                ("host", format!("h{}", id % 7)),
                ("cpu", (id % 5).to_string()),
            ])
        };
        let mut d = DayIndex::default();
        for id in 1..=600 {
            d.add(id, &labels_of(id));
        }
        let c = d.begin_compaction().unwrap();
        let built = c.build().unwrap();
        d.finish_compaction(&c, Some(built));
        // A recent layer on top of the frozen one, and a removed series.
        for id in 601..=700 {
            d.add(id, &labels_of(id));
        }
        d.remove(21);
        let cases = [
            vec![
                Matcher::equal("__name__", "a"),
                Matcher::equal("host", "h3"),
            ],
            vec![
                Matcher::equal("host", "h3"),
                m(MatchOp::Regex, "cpu", "1|4"),
            ],
            vec![
                m(MatchOp::Regex, "__name__", "a|b"),
                Matcher::equal("cpu", "0"),
                m(MatchOp::NotEqual, "host", "h1"),
            ],
            vec![
                Matcher::equal("host", "h0"),
                m(MatchOp::Regex, "__name__", ".+"),
            ],
            vec![
                Matcher::equal("cpu", "2"),
                m(MatchOp::Regex, "host", "h[0-2]"),
            ],
        ];
        for matchers in cases {
            let want: Vec<SeriesId> = (1..=700)
                .filter(|&id| id != 21)
                .filter(|&id| {
                    let labels = labels_of(id);
                    matchers
                        .iter()
                        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
                })
                .collect();
            assert!(!want.is_empty(), "{matchers:?} selects something");
            assert_eq!(d.matching(&matchers), want, "{matchers:?}");
        }
    }

    #[test]
    fn removed_ids_never_match() {
        for (layout, mut d) in layouts() {
            d.remove(2);
            assert!(!d.contains(2), "{layout}");
            assert_eq!(
                d.matching(&[Matcher::equal("__name__", "up")]),
                vec![1, 3],
                "{layout}"
            );
            assert_eq!(
                d.matching(&[m(MatchOp::NotEqual, "job", "api")]),
                vec![3],
                "{layout}"
            );
            assert_eq!(d.matching(&[]), vec![1, 3, 4], "{layout}");
        }
    }

    #[test]
    fn compaction_keeps_removals_made_while_it_ran_and_drops_older_ones() {
        let mut d = DayIndex::default();
        for (id, l) in series() {
            d.add(id, &l);
        }
        d.remove(1);
        let c = d.begin_compaction().unwrap();
        assert!(d.begin_compaction().is_none(), "one compaction at a time");
        d.remove(2);
        d.add(9, &Labels::from_pairs([("__name__", "up")]));
        let built = c.build().unwrap();
        d.finish_compaction(&c, Some(built));
        assert!(
            !d.frozen().contains(1),
            "removed before the snapshot: left out"
        );
        assert!(
            d.frozen().contains(2) && !d.contains(2),
            "removed during: still hidden"
        );
        assert_eq!(d.matching(&[Matcher::equal("__name__", "up")]), vec![3, 9]);
        // A removed series added back (WAL replay) is visible again.
        d.add(1, &series()[0].1);
        assert_eq!(d.matching(&[Matcher::equal("job", "api")]), vec![1, 4]);
    }

    #[test]
    fn a_failed_compaction_returns_its_series_to_recent() {
        let mut d = DayIndex::default();
        for (id, l) in series() {
            d.add(id, &l);
        }
        let c = d.begin_compaction().unwrap();
        d.finish_compaction(&c, None);
        assert_eq!(d.frozen().len(), 0);
        assert_eq!(
            d.matching(&[Matcher::equal("__name__", "up")]),
            vec![1, 2, 3]
        );
        assert!(d.begin_compaction().is_some());
    }
}
