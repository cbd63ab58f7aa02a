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
pub(crate) mod sum;
pub(crate) mod trim;

pub(crate) use arith::{add, divide, scale, sub, Combined, Incompatible};
pub(crate) use sum::{mean, HistogramSum};
