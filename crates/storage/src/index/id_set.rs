//! An immutable set of series ids, stored as a bitmap when ids are dense.
//!
//! Series ids are assigned in creation order, so one day's series are mostly a dense
//! run: a bitmap over that run costs a bit per id instead of the 8+ bytes of a sorted
//! list or hash set, and membership (asked for every sample batch on the append path)
//! is one bit test.

use crate::series::SeriesId;

pub(crate) enum IdSet {
    /// Bit `i` of the words is id `first + i`.
    Bitmap {
        first: SeriesId,
        words: Box<[u64]>,
        len: usize,
    },
    /// Ascending, for ids spread too thinly for a bitmap to pay off.
    Sorted(Box<[SeriesId]>),
}

impl Default for IdSet {
    fn default() -> Self {
        IdSet::Sorted(Box::default())
    }
}

impl IdSet {
    /// Builds the set from strictly ascending ids.
    pub(crate) fn from_sorted(ids: Vec<SeriesId>) -> IdSet {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            return IdSet::default();
        };
        let words_needed = (last - first) / 64 + 1;
        // A bitmap wins while it needs at most one 64-bit word per id.
        if words_needed > ids.len() as u64 {
            return IdSet::Sorted(ids.into_boxed_slice());
        }
        let mut words = vec![0u64; words_needed as usize];
        for &id in &ids {
            let bit = id - first;
            words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        IdSet::Bitmap {
            first,
            words: words.into_boxed_slice(),
            len: ids.len(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            IdSet::Bitmap { len, .. } => *len,
            IdSet::Sorted(ids) => ids.len(),
        }
    }

    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        match self {
            IdSet::Bitmap { first, words, .. } => {
                let Some(bit) = id.checked_sub(*first) else {
                    return false;
                };
                words
                    .get((bit / 64) as usize)
                    .is_some_and(|w| w & (1 << (bit % 64)) != 0)
            }
            IdSet::Sorted(ids) => ids.binary_search(&id).is_ok(),
        }
    }

    /// The ids, ascending.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = SeriesId> + '_> {
        match self {
            IdSet::Bitmap { first, words, .. } => {
                Box::new(words.iter().enumerate().flat_map(move |(i, &w)| {
                    let base = *first + i as u64 * 64;
                    BitIter(w).map(move |b| base + b)
                }))
            }
            IdSet::Sorted(ids) => Box::new(ids.iter().copied()),
        }
    }
}

/// Positions of the set bits of a word, lowest first.
struct BitIter(u64);

impl Iterator for BitIter {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(u64::from(bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ids: Vec<SeriesId>) -> IdSet {
        let set = IdSet::from_sorted(ids.clone());
        assert_eq!(set.len(), ids.len());
        assert_eq!(set.iter().collect::<Vec<_>>(), ids);
        for &id in &ids {
            assert!(set.contains(id), "{id}");
        }
        set
    }

    #[test]
    fn dense_ids_use_a_bitmap_and_sparse_ids_a_list() {
        let dense = check((5..300).filter(|i| i % 3 != 0).collect());
        assert!(matches!(dense, IdSet::Bitmap { .. }));
        assert!(!dense.contains(6) && !dense.contains(4) && !dense.contains(300));
        assert!(!dense.contains(u64::MAX));

        let sparse = check(vec![1, 1 << 20, 1 << 40, u64::MAX]);
        assert!(matches!(sparse, IdSet::Sorted(_)));
        assert!(!sparse.contains(2));

        let empty = check(Vec::new());
        assert!(!empty.contains(0));
        check(vec![0, 63, 64, 127, 128]);
    }
}
