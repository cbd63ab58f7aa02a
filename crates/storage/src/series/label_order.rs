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

use rayon::prelude::*;
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

/// From this many items on, keys are built and sorted on rayon's pool: a select of
/// thousands of series spends a good part of its single-threaded time here.
const PARALLEL_MIN_ITEMS: usize = 4096;
/// Items per parallel encoding task.
const CHUNK_ITEMS: usize = 1024;

/// The keys of consecutive items: item `i` of the chunk has `arena[spans[i]]`.
struct EncodedChunk {
    arena: Vec<u8>,
    spans: Vec<Range<usize>>,
    /// How long a prefix every key of the chunk shares with the first item's key.
    common_with_first: usize,
}

fn encode_chunk<T>(items: &[T], labels_of: &impl Fn(&T) -> &Labels, first: &[u8]) -> EncodedChunk {
    let mut arena = Vec::new();
    let mut spans = Vec::with_capacity(items.len());
    let mut common = first.len();
    for item in items {
        let start = arena.len();
        encode(labels_of(item), &mut arena);
        let key = &arena[start..];
        common = first[..common]
            .iter()
            .zip(key)
            .position(|(a, b)| a != b)
            .unwrap_or(common.min(key.len()));
        spans.push(start..arena.len());
    }
    EncodedChunk {
        arena,
        spans,
        common_with_first: common,
    }
}

/// Sorts `items` by the label set `labels_of` gives each, in [`Labels`]' order.
/// Items with equal label sets keep their relative order.
pub(crate) fn sort_by_labels<T: Send + Sync>(
    items: &mut Vec<T>,
    labels_of: impl Fn(&T) -> &Labels + Sync,
) {
    if items.len() < 2 {
        return;
    }
    let mut first = Vec::new();
    encode(labels_of(&items[0]), &mut first);
    let parallel = items.len() >= PARALLEL_MIN_ITEMS;
    let (chunks, chunk_len): (Vec<EncodedChunk>, usize) = if parallel {
        let chunks = items
            .par_chunks(CHUNK_ITEMS)
            .map(|c| encode_chunk(c, &labels_of, &first))
            .collect();
        (chunks, CHUNK_ITEMS)
    } else {
        (vec![encode_chunk(items, &labels_of, &first)], items.len())
    };
    // Series of one select mostly share a long prefix (the metric name and more):
    // it decides nothing, so comparisons start after it, and the next 8 bytes of
    // each key, as one integer, decide most comparisons without a `memcmp`.
    let common = chunks
        .iter()
        .map(|c| c.common_with_first)
        .min()
        .unwrap_or(0);
    let rest = |i: usize| {
        let chunk = &chunks[i / chunk_len];
        let span = &chunk.spans[i % chunk_len];
        &chunk.arena[span.start + common..span.end]
    };
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
    if parallel {
        order.par_sort_unstable_by(cmp);
    } else {
        order.sort_unstable_by(cmp);
    }
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .map(|(_, i)| slots[i].take().expect("each position is taken once")),
    );
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

    #[test]
    fn large_inputs_sorted_in_parallel_match_labels_order() {
        // More than PARALLEL_MIN_ITEMS, with chunks whose keys share prefixes of
        // different lengths with the first item's.
        let n = PARALLEL_MIN_ITEMS + CHUNK_ITEMS / 2 + 3;
        let sets: Vec<Labels> = (0..n)
            .map(|i| {
                let i = (i * 7919) % n;
                labels(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &(i % 13).to_string()),
                    ("instance", &format!("host-{:05}", i / 13)),
                    ("mode", if i.is_multiple_of(2) { "idle" } else { "user" }),
                ])
            })
            .chain([
                labels(&[("__name__", "a")]),
                labels(&[("__name__", "node")]),
            ])
            .collect();
        let mut expected = sets.clone();
        expected.sort();
        let mut got = sets;
        sort_by_labels(&mut got, |l| l);
        assert_eq!(got, expected);
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        // Few distinct names and short values, so sets share prefixes often.
        let name = prop::sample::select(vec!["__name__", "a", "ab", "b", "job", "jobs"]);
        let value = "[a-b\u{0}\u{e9}\u{1F600}]{1,3}";
        prop::collection::btree_map(name, value, 0..4).prop_map(Labels::from_pairs)
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
