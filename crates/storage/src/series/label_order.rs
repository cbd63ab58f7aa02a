//! Sorting selected series by their label sets.
//!
//! A select returns its series in [`Labels`]' order (Prometheus' `labels.Compare`).
//! Comparing two label sets through the derived `Ord` walks them pair by pair, one
//! `memcmp` per name and per value, and series of one metric share their leading
//! pairs, so each of the `n log n` comparisons repeated several calls. Here each set
//! is encoded once into a byte string whose plain byte order is exactly `Labels`'
//! order, and the sort compares those strings with one `memcmp` each.
//!
//! The encoding: every byte `b` of a name or value becomes `b + 1`, and each name and
//! value ends with a `0`. UTF-8 never contains `0xff`, so `b + 1` never overflows, and
//! the terminator sorts below every encoded byte, so a string sorts before its
//! extensions, as `str`'s order has it. Comparing the concatenations therefore
//! compares the sequences (name₁, value₁, name₂, …) lexicographically, which is the
//! derived order of `Vec<Label>` with `Label` ordered by (name, value).

use std::ops::Range;

use tidemark_model::Labels;

/// Appends the order-preserving encoding of `labels` to `out`.
fn encode(labels: &Labels, out: &mut Vec<u8>) {
    for l in labels {
        for s in [&l.name, &l.value] {
            let start = out.len();
            out.extend_from_slice(s.as_bytes());
            // `wrapping_add` only so a malformed string cannot panic; valid UTF-8
            // has no 0xff byte.
            for b in &mut out[start..] {
                *b = b.wrapping_add(1);
            }
            out.push(0);
        }
    }
}

/// Sorts `items` by the label set `labels_of` gives each, in [`Labels`]' order.
/// Items with equal label sets keep their relative order.
pub(crate) fn sort_by_labels<T>(items: &mut Vec<T>, labels_of: impl Fn(&T) -> &Labels) {
    if items.len() < 2 {
        return;
    }
    let mut arena: Vec<u8> = Vec::new();
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(items.len());
    for item in items.iter() {
        let start = arena.len();
        encode(labels_of(item), &mut arena);
        spans.push(start..arena.len());
    }
    // Series of one select mostly share a long prefix (the metric name and more):
    // it decides nothing, so comparisons start after it, and the next 8 bytes of
    // each key, as one integer, decide most comparisons without a `memcmp`.
    let common = common_prefix_len(&arena, &spans);
    let rest = |i: usize| &arena[spans[i].start + common..spans[i].end];
    let mut order: Vec<(u64, usize)> = (0..items.len()).map(|i| (head(rest(i)), i)).collect();
    let cmp = |a: &(u64, usize), b: &(u64, usize)| {
        a.0.cmp(&b.0)
            .then_with(|| rest(a.1).cmp(rest(b.1)))
            .then(a.1.cmp(&b.1))
    };
    // Already sorted (one series per metric, or a re-sort): n comparisons, no moves.
    if order.windows(2).all(|w| cmp(&w[0], &w[1]).is_le()) {
        return;
    }
    order.sort_unstable_by(cmp);
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .map(|(_, i)| slots[i].take().expect("each position is taken once")),
    );
}

/// Length of the prefix every key in `spans` shares.
fn common_prefix_len(arena: &[u8], spans: &[Range<usize>]) -> usize {
    let first = &arena[spans[0].clone()];
    spans[1..].iter().fold(first.len(), |common, span| {
        let key = &arena[span.clone()];
        first[..common]
            .iter()
            .zip(key)
            .position(|(a, b)| a != b)
            .unwrap_or(common.min(key.len()))
    })
}

/// The first 8 bytes of `key` as a big-endian integer (zero-padded), so integer
/// order agrees with byte order on those bytes.
fn head(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn prefixes_and_shorter_sets_sort_first_as_in_labels_order() {
        let sets = vec![
            labels(&[("__name__", "up"), ("jobx", "a")]),
            labels(&[("__name__", "up"), ("job", "b")]),
            labels(&[("__name__", "up")]),
            labels(&[("__name__", "up"), ("job", "a"), ("zone", "1")]),
            labels(&[("__name__", "up"), ("job", "a")]),
            labels(&[("__name__", "u")]),
            labels(&[("__name__", "up"), ("job", "é")]),
            labels(&[("__name__", "up"), ("job", "\u{0}")]),
        ];
        let mut expected = sets.clone();
        expected.sort();
        let mut got = sets;
        sort_by_labels(&mut got, |l| l);
        assert_eq!(got, expected);
    }

    #[test]
    fn equal_label_sets_keep_their_order() {
        let a = labels(&[("a", "1")]);
        let b = labels(&[("b", "1")]);
        let mut items = vec![(b.clone(), 0), (a.clone(), 1), (b.clone(), 2), (a, 3)];
        sort_by_labels(&mut items, |(l, _)| l);
        let order: Vec<i32> = items.iter().map(|(_, i)| *i).collect();
        assert_eq!(order, vec![1, 3, 0, 2]);
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        // Few distinct names and short values, so sets share prefixes often.
        let name = prop::sample::select(vec!["__name__", "a", "ab", "b", "job", "jobs"]);
        let value = "[a-b\u{0}\u{e9}\u{1F600}]{1,3}";
        prop::collection::btree_map(name, value, 0..4)
            .prop_map(|m| Labels::from_pairs(m.into_iter()))
    }

    proptest! {
        #[test]
        fn sorts_exactly_like_labels_ord(sets in prop::collection::vec(label_set(), 0..40)) {
            let mut expected = sets.clone();
            expected.sort();
            let mut got = sets;
            sort_by_labels(&mut got, |l| l);
            prop_assert_eq!(got, expected);
        }
    }
}
