//! Assembling a range query's matrix from its per-step values.
//!
//! Every element of every step is filed under its final label set (delayed name
//! removal applied). Most elements carry a label set shared across steps (the
//! stored series' `Arc`, or a memoized derived one), so the series an element
//! belongs to is first looked up by that `Arc`'s address; only label sets built
//! for one step are hashed by content. Duplicate label sets within a step are
//! detected by the step a series last received a point at, without a per-step set.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use tidemark_model::Labels;

use super::{duplicate_labelset, final_labels_arc, too_many_samples, Elem};
use crate::value::{FPoint, HPoint, QueryError, RangeSeries};

/// One output series under construction.
struct Building {
    labels: Arc<Labels>,
    floats: Vec<FPoint>,
    histograms: Vec<HPoint>,
    /// 1 + the step number of its newest point; 0 before the first.
    last_step: usize,
}

/// Collects the steps of a range query, in step order.
pub(super) struct RangeCollector {
    series: Vec<Building>,
    /// Series index by (shared source label set address, drop_name). Holds the
    /// source `Arc` so its address cannot be reused while it is a key.
    by_source: FxHashMap<(usize, bool), (Arc<Labels>, usize)>,
    /// Series index by final label set.
    by_labels: FxHashMap<Arc<Labels>, usize>,
    total_points: usize,
    max_samples: usize,
}

impl RangeCollector {
    pub(super) fn new(max_samples: usize) -> RangeCollector {
        RangeCollector {
            series: Vec::new(),
            by_source: FxHashMap::default(),
            by_labels: FxHashMap::default(),
            total_points: 0,
            max_samples,
        }
    }

    /// A scalar step result: a point of the series without labels.
    pub(super) fn push_scalar(&mut self, step_no: usize, t: i64, f: f64) -> Result<(), QueryError> {
        let i = self.index_of_final(Arc::new(Labels::empty()));
        self.push_point(i, step_no, t, f, None)?;
        self.check_limit()
    }

    /// A vector step result. Fails on two elements with the same final labels.
    pub(super) fn push_vector(
        &mut self,
        step_no: usize,
        t: i64,
        v: Vec<Elem>,
    ) -> Result<(), QueryError> {
        for e in v {
            let i = self.index_of(&e);
            self.push_point(i, step_no, t, e.f, e.h)?;
        }
        self.check_limit()
    }

    /// The series, sorted by labels.
    pub(super) fn finish(self) -> Vec<RangeSeries> {
        drop(self.by_source);
        drop(self.by_labels);
        let mut out: Vec<RangeSeries> = self
            .series
            .into_iter()
            .map(|b| RangeSeries {
                labels: Arc::unwrap_or_clone(b.labels),
                floats: b.floats,
                histograms: b.histograms,
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn check_limit(&self) -> Result<(), QueryError> {
        if self.total_points > self.max_samples {
            return Err(too_many_samples());
        }
        Ok(())
    }

    fn push_point(
        &mut self,
        i: usize,
        step_no: usize,
        t: i64,
        f: f64,
        h: Option<Arc<tidemark_model::FloatHistogram>>,
    ) -> Result<(), QueryError> {
        let b = &mut self.series[i];
        if b.last_step == step_no + 1 {
            return Err(duplicate_labelset());
        }
        b.last_step = step_no + 1;
        match h {
            Some(h) => b.histograms.push(HPoint { t, h }),
            None => b.floats.push(FPoint { t, f }),
        }
        self.total_points += 1;
        Ok(())
    }

    /// The series of element `e`, created on first sight.
    fn index_of(&mut self, e: &Elem) -> usize {
        // A label set referenced elsewhere too is shared across steps; one owned
        // by this element alone was built for this step and is not memoized.
        let shared = Arc::strong_count(&e.labels) > 1;
        let key = (Arc::as_ptr(&e.labels) as usize, e.drop_name);
        if shared {
            if let Some((_, i)) = self.by_source.get(&key) {
                return *i;
            }
        }
        let i = self.index_of_final(final_labels_arc(e));
        if shared {
            self.by_source.insert(key, (e.labels.clone(), i));
        }
        i
    }

    fn index_of_final(&mut self, labels: Arc<Labels>) -> usize {
        if let Some(&i) = self.by_labels.get(&*labels) {
            return i;
        }
        let i = self.series.len();
        self.by_labels.insert(labels.clone(), i);
        self.series.push(Building {
            labels,
            floats: Vec::new(),
            histograms: Vec::new(),
            last_step: 0,
        });
        i
    }
}
