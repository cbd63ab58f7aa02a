//! The inverted index, partitioned by (tenant, day).
//!
//! Each day holds `label name → value → series ids` postings for exactly the series
//! with samples on that day, so a query over an hour touches one or two days'
//! postings instead of every series ever seen. Label sets themselves live once, in the
//! [`crate::series::SeriesRegistry`].
//!
//! Persistence: the series of a day are the series ids in that day's parts (their
//! block indexes are read at open anyway) plus what the WAL replay re-adds; the labels
//! come from the persisted series registry. Opening therefore never reads data blocks.

mod postings;
pub(crate) mod registry_snapshot;

pub(crate) use postings::DayIndex;

use std::ops::RangeInclusive;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use tidemark_model::{Labels, Matcher, Tenant};

use crate::series::SeriesId;
use crate::time::Day;

#[derive(Default)]
pub(crate) struct SeriesIndex {
    days: RwLock<FxHashMap<(Tenant, Day), DayIndex>>,
}

impl SeriesIndex {
    /// Records that `id` has samples on `day`.
    pub(crate) fn add(&self, tenant: Tenant, day: Day, id: SeriesId, labels: &Labels) {
        if self
            .days
            .read()
            .get(&(tenant, day))
            .is_some_and(|d| d.contains(id))
        {
            return;
        }
        self.days
            .write()
            .entry((tenant, day))
            .or_default()
            .add(id, labels);
    }

    /// Keeps in `entries` only the `(day, id)` pairs the index does not hold yet, under
    /// one shared lock: the append path's cheap check, which needs no labels, before
    /// [`SeriesIndex::add`] for the few series new to a day.
    pub(crate) fn retain_missing(&self, tenant: Tenant, entries: &mut Vec<(Day, SeriesId)>) {
        let days = self.days.read();
        // A batch's samples are nearly always on one day: look its index up once.
        let mut last: Option<(Day, Option<&DayIndex>)> = None;
        entries.retain(|&(day, id)| {
            let index = match last {
                Some((d, index)) if d == day => index,
                _ => {
                    let index = days.get(&(tenant, day));
                    last = Some((day, index));
                    index
                }
            };
            !index.is_some_and(|d| d.contains(id))
        });
    }

    /// Ids (ascending, unique) of series matching all `matchers` with samples on any of `days`.
    pub(crate) fn select(
        &self,
        tenant: Tenant,
        days: RangeInclusive<Day>,
        matchers: &[Matcher],
    ) -> Vec<SeriesId> {
        let index = self.days.read();
        let mut out = Vec::new();
        if days.end().saturating_sub(*days.start()) as usize > index.len() {
            // A very wide range: visit the days that exist rather than every day number.
            for ((t, day), d) in index.iter() {
                if *t == tenant && days.contains(day) {
                    out.extend(d.matching(matchers));
                }
            }
        } else {
            for day in days {
                if let Some(d) = index.get(&(tenant, day)) {
                    out.extend(d.matching(matchers));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Forgets deleted series everywhere.
    pub(crate) fn remove_series(&self, ids: &[SeriesId]) {
        let mut index = self.days.write();
        for d in index.values_mut() {
            for &id in ids {
                d.remove(id);
            }
        }
    }

    /// Drops whole days (retention).
    pub(crate) fn drop_days_before(&self, first_kept: Day) {
        self.days.write().retain(|(_, day), _| *day >= first_kept);
    }
}
