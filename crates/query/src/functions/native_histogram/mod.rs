//! Native histogram kernels: arithmetic ([`arith`]), statistics ([`stats`]) and
//! counter functions ([`counter`]) over `tidemark_model::FloatHistogram`, with
//! Prometheus 3.x semantics.
//!
//! Like the float kernels, nothing here sees evaluator state: outcomes that
//! Prometheus reports as annotations come back as flags or notes, and the
//! evaluator words them.

pub(crate) mod arith;
pub(crate) mod buckets;
pub(crate) mod counter;
pub(crate) mod notes;
pub(crate) mod stats;
pub(crate) mod trim;

use tidemark_model::FloatHistogram;

pub(crate) use arith::{add, divide, scale, sub, Combined, Incompatible};

/// Running sum of histograms (for `sum`, `avg`, `sum_over_time`, …) that
/// remembers what Prometheus would report about it.
#[derive(Debug, Default)]
pub(crate) struct HistogramSum {
    pub sum: Option<FloatHistogram>,
    pub counter_reset_collision: bool,
    pub custom_buckets_reconciled: bool,
    /// Exponential and custom buckets met: there is no meaningful sum.
    pub incompatible: bool,
}

impl HistogramSum {
    pub(crate) fn add(&mut self, h: &FloatHistogram) {
        if self.incompatible {
            return;
        }
        let Some(acc) = &self.sum else {
            self.sum = Some(h.clone());
            return;
        };
        match arith::add(acc, h) {
            Ok(c) => {
                self.counter_reset_collision |= c.counter_reset_collision;
                self.custom_buckets_reconciled |= c.custom_buckets_reconciled;
                self.sum = Some(c.h);
            }
            Err(Incompatible::MixedSchemas) => {
                self.incompatible = true;
                self.sum = None;
            }
        }
    }

    /// The sum, or `None` when nothing was added or the inputs were incompatible.
    pub(crate) fn result(&self) -> Option<&FloatHistogram> {
        if self.incompatible {
            None
        } else {
            self.sum.as_ref()
        }
    }
}
