//! Immutable, sorted, encoded postings of one (tenant, day): the form the index is
//! persisted in and also the form it is queried in, so loading a day costs one
//! validation pass and no per-label allocations.
//!
//! A section (see `docs/storage-format.md`, "Postings files"); `uvarint` = LEB128:
//!
//! ```text
//! uvarint id count, then the day's series ids ascending, each as uvarint delta
//! uvarint name count, then per label name ascending: string name, uvarint value count
//! per (name, value) pair, names then values ascending (byte order):
//!     string value, uvarint id count, uvarint list byte length,
//!     list: the ids having that pair, ascending, each as uvarint delta
//! ```
//!
//! Strings are `uvarint` length + UTF-8. Deltas start from 0.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::index::id_set::IdSet;
use crate::series::SeriesId;
use crate::wire::{self, Reader, WireError};

#[derive(Default)]
pub(crate) struct FrozenPostings {
    ids: IdSet,
    /// Label names ascending, each with the range of `entries` holding its values.
    names: Box<[(Box<str>, Range<u32>)]>,
    /// Offset in `data` of every (name, value) entry, in (name, value) order.
    entries: Box<[u32]>,
    /// The encoded entries, exactly as in the file.
    data: Box<[u8]>,
}

/// Postings in the order [`FrozenPostings::build`] takes them: name → value → ids
/// (each list ascending and unique).
pub(crate) type SortedPostings<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Vec<SeriesId>>>;

/// One (name, value) entry as stored in `data`.
struct Entry<'a> {
    value: &'a str,
    count: usize,
    list: &'a [u8],
}

impl FrozenPostings {
    /// Encodes `postings` of the series `ids` (ascending, unique). Fails only if the
    /// entries exceed the 4 GiB that 32-bit offsets address.
    pub(crate) fn build(
        ids: Vec<SeriesId>,
        postings: &SortedPostings<'_>,
    ) -> Result<FrozenPostings, WireError> {
        let mut names = Vec::with_capacity(postings.len());
        let mut entries = Vec::new();
        let mut data = Vec::new();
        let mut list = Vec::new();
        for (name, values) in postings {
            let start = entries.len() as u32;
            for (value, ids) in values {
                entries.push(offset(data.len())?);
                wire::put_str(&mut data, value);
                wire::put_uvarint(&mut data, ids.len() as u64);
                list.clear();
                put_deltas(&mut list, ids.iter().copied());
                wire::put_uvarint(&mut data, list.len() as u64);
                data.extend_from_slice(&list);
            }
            names.push((Box::<str>::from(*name), start..entries.len() as u32));
        }
        offset(data.len())?;
        Ok(FrozenPostings {
            ids: IdSet::from_sorted(ids),
            names: names.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            data: data.into_boxed_slice(),
        })
    }

    /// Appends this section's encoding to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        wire::put_uvarint(out, self.ids.len() as u64);
        put_deltas(out, self.ids.iter());
        wire::put_uvarint(out, self.names.len() as u64);
        for (name, range) in self.names.iter() {
            wire::put_str(out, name);
            wire::put_uvarint(out, u64::from(range.end - range.start));
        }
        out.extend_from_slice(&self.data);
    }

    /// Decodes and fully validates a section written by [`FrozenPostings::encode`]:
    /// order, UTF-8 and every id list, so later lookups cannot meet malformed data.
    pub(crate) fn decode(section: &[u8]) -> Result<FrozenPostings, WireError> {
        let mut r = Reader::new(section);
        let n_ids = r.count(1)?;
        let mut ids = Vec::with_capacity(n_ids);
        read_deltas(&mut r, n_ids, &mut ids)?;
        let n_names = r.count(2)?;
        let mut names: Vec<(Box<str>, Range<u32>)> = Vec::with_capacity(n_names);
        let mut next_entry = 0u32;
        for _ in 0..n_names {
            let name = r.str()?;
            if names.last().is_some_and(|(prev, _)| **prev >= *name) {
                return Err(invalid(&r, "label names out of order"));
            }
            let n_values =
                u32::try_from(r.count(4)?).map_err(|_| invalid(&r, "too many values"))?;
            let end = next_entry
                .checked_add(n_values)
                .ok_or_else(|| invalid(&r, "too many values"))?;
            names.push((name.into(), next_entry..end));
            next_entry = end;
        }
        let data_start = r.position();
        let data = &section[data_start..];
        offset(data.len()).map_err(|e| WireError {
            offset: data_start,
            ..e
        })?;
        let mut entries = Vec::with_capacity(next_entry as usize);
        let mut d = Reader::new(data);
        let mut list_ids = Vec::new();
        for (_, range) in &names {
            let mut prev_value: Option<&str> = None;
            for _ in range.clone() {
                entries.push(d.position() as u32);
                let entry = read_entry(&mut d)?;
                if prev_value.is_some_and(|p| p >= entry.value) {
                    return Err(invalid(&d, "label values out of order"));
                }
                prev_value = Some(entry.value);
                list_ids.clear();
                let mut list = Reader::new(entry.list);
                read_deltas(&mut list, entry.count, &mut list_ids)?;
                if !list.is_empty() {
                    return Err(invalid(&d, "id list longer than its count"));
                }
            }
        }
        if !d.is_empty() {
            return Err(invalid(&d, "trailing bytes after the last entry"));
        }
        Ok(FrozenPostings {
            ids: IdSet::from_sorted(ids),
            names: names.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            data: data.into(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.ids.contains(id)
    }

    /// Every series of the section, ascending.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.ids.iter()
    }

    /// Entry indexes of `name`'s values.
    fn entries_of(&self, name: &str) -> Range<usize> {
        match self.names.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.names[i].1.start as usize..self.names[i].1.end as usize,
            Err(_) => 0..0,
        }
    }

    fn entry(&self, index: usize) -> Entry<'_> {
        let mut r = Reader::new(&self.data[self.entries[index] as usize..]);
        read_entry(&mut r).expect("entries were validated when built or decoded")
    }

    /// The encoded id list of label `name="value"`, if any series has it.
    pub(crate) fn list_with(&self, name: &str, value: &str) -> Option<EncodedIds<'_>> {
        let range = self.entries_of(name);
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = self.entry(mid);
            match entry.value.cmp(value) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Some(EncodedIds {
                        list: entry.list,
                        count: entry.count,
                    })
                }
            }
        }
        None
    }

    /// Calls `f` with every value of label `name` and its encoded id list.
    pub(crate) fn for_each_list<'a>(
        &'a self,
        name: &str,
        mut f: impl FnMut(&'a str, EncodedIds<'a>),
    ) {
        for i in self.entries_of(name) {
            let entry = self.entry(i);
            f(
                entry.value,
                EncodedIds {
                    list: entry.list,
                    count: entry.count,
                },
            );
        }
    }

    /// Calls `f` for every (name, value, ids) entry in order; used to merge sections.
    pub(crate) fn for_each_pair<'a>(
        &'a self,
        mut f: impl FnMut(&'a str, &'a str, &mut dyn Iterator<Item = SeriesId>),
    ) {
        for (name, range) in self.names.iter() {
            for i in range.start as usize..range.end as usize {
                let entry = self.entry(i);
                f(name, entry.value, &mut decode_list(entry.list, entry.count));
            }
        }
    }
}

/// One (name, value) pair's ids, still encoded: lookups that only test candidates
/// against a long list walk it without materialising it.
#[derive(Clone, Copy)]
pub(crate) struct EncodedIds<'a> {
    list: &'a [u8],
    count: usize,
}

impl<'a> EncodedIds<'a> {
    /// How many ids the list holds.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The ids, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = SeriesId> + 'a {
        decode_list(self.list, self.count)
    }
}

fn offset(len: usize) -> Result<u32, WireError> {
    u32::try_from(len).map_err(|_| WireError {
        offset: 0,
        reason: "postings section larger than 4 GiB",
    })
}

fn invalid(r: &Reader<'_>, reason: &'static str) -> WireError {
    WireError {
        offset: r.position(),
        reason,
    }
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Result<Entry<'a>, WireError> {
    let value = r.str()?;
    let count = r.count(0)?;
    let len = r.count(1)?;
    let list = r.bytes(len)?;
    Ok(Entry { value, count, list })
}

fn put_deltas(out: &mut Vec<u8>, ids: impl Iterator<Item = SeriesId>) {
    let mut prev = 0;
    for id in ids {
        wire::put_uvarint(out, id - prev);
        prev = id;
    }
}

/// Reads `n` delta-encoded ids into `out`, requiring them strictly ascending.
fn read_deltas(r: &mut Reader<'_>, n: usize, out: &mut Vec<SeriesId>) -> Result<(), WireError> {
    let mut prev: Option<SeriesId> = None;
    for _ in 0..n {
        let delta = r.uvarint()?;
        let id = match prev {
            None => delta,
            Some(_) if delta == 0 => return Err(invalid(r, "ids not strictly ascending")),
            Some(p) => p
                .checked_add(delta)
                .ok_or_else(|| invalid(r, "id overflows 64 bits"))?,
        };
        out.push(id);
        prev = Some(id);
    }
    Ok(())
}

/// Decodes a list that [`FrozenPostings::decode`] or [`FrozenPostings::build`] checked.
fn decode_list(list: &[u8], count: usize) -> impl Iterator<Item = SeriesId> + '_ {
    let mut r = Reader::new(list);
    let mut prev = 0u64;
    (0..count).map_while(move |_| {
        let delta = r.uvarint().ok()?;
        prev += delta;
        Some(prev)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FrozenPostings {
        let mut p: SortedPostings<'_> = BTreeMap::new();
        p.entry("__name__")
            .or_default()
            .insert("up", vec![1, 2, 300]);
        p.entry("__name__").or_default().insert("down", vec![4]);
        p.entry("job").or_default().insert("api", vec![1, 4]);
        p.entry("job").or_default().insert("db", vec![2]);
        FrozenPostings::build(vec![1, 2, 4, 300], &p).unwrap()
    }

    fn lookup(f: &FrozenPostings, name: &str, value: &str) -> Vec<SeriesId> {
        f.list_with(name, value)
            .map_or_else(Vec::new, |ids| ids.iter().collect())
    }

    #[test]
    fn lookups_find_exactly_the_stored_lists() {
        let f = sample();
        assert_eq!(lookup(&f, "__name__", "up"), vec![1, 2, 300]);
        assert_eq!(lookup(&f, "__name__", "down"), vec![4]);
        assert_eq!(lookup(&f, "job", "db"), vec![2]);
        assert!(lookup(&f, "job", "x").is_empty());
        assert!(lookup(&f, "nope", "up").is_empty());
        let mut values = Vec::new();
        f.for_each_list("job", |v, ids| {
            assert_eq!(ids.len(), ids.iter().count());
            values.push((v.to_string(), ids.iter().collect::<Vec<_>>()))
        });
        assert_eq!(
            values,
            vec![("api".to_string(), vec![1, 4]), ("db".to_string(), vec![2])]
        );
        assert_eq!(f.ids().collect::<Vec<_>>(), vec![1, 2, 4, 300]);
        assert!(f.contains(300) && !f.contains(3));
    }

    #[test]
    fn encoding_round_trips() {
        let f = sample();
        let mut bytes = Vec::new();
        f.encode(&mut bytes);
        let g = FrozenPostings::decode(&bytes).unwrap();
        let mut again = Vec::new();
        g.encode(&mut again);
        assert_eq!(bytes, again);
        assert_eq!(lookup(&g, "__name__", "up"), vec![1, 2, 300]);
    }

    #[test]
    fn malformed_sections_are_errors_not_panics() {
        let mut bytes = Vec::new();
        sample().encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(
                FrozenPostings::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                // Some flips still decode (e.g. another valid value); none may panic.
                let _ = FrozenPostings::decode(&b);
            }
        }
    }
}
