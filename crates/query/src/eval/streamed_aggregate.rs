//! Fused aggregations over series streamed from the [`Queryable`] batch by batch.
//!
//! A fused aggregation (`avg by(instance)(rate(x[5m]))`, see [`super::series_major`])
//! is the only reader of its selector's series. Fetching all of them for the whole
//! query up front cost far more than the aggregation itself over ten thousand
//! series: growing, copying, sorting and dropping every series' samples and labels.
//! Here the selector's series are read in batches (in label order, see
//! [`crate::Queryable::select_batches`]); each batch is evaluated, in parallel,
//! into compact per-series, per-step values (one float and one flag per step) and
//! dropped. The values are then folded into groups over all the query's steps in
//! series order, exactly as the step-major path folds them, so results are
//! identical to the bit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use tidemark_model::Labels;

use super::labels_util::Signature;
use super::selectors::{self, Deferred, Need, SeriesData};
use super::series_major::{self, fold_groups, LeafValues};
use super::{aggregate, Elem, Evaluator};
use crate::ast::{AggregateExpr, Expr, Grouping, VectorSelector};
use crate::value::QueryError;
use crate::Queryable;

/// The largest `series x steps` a streamed aggregation keeps values for (about
/// 9 bytes each); a larger one is evaluated block by block from fetched series.
const MAX_STREAMED_VALUES: usize = 32 << 20;

/// A streamed aggregation's vector per query step, taken by the step's block.
pub(super) type StreamedSteps = Vec<Mutex<Option<Vec<Vec<Elem>>>>>;

impl Evaluator<'_> {
    /// Evaluates the fused aggregations whose selectors [`selectors::prefetch`]
    /// deferred, streaming their series; a selector that cannot be streamed is
    /// fetched whole instead, for the usual path.
    pub(super) fn load_deferred(
        &mut self,
        q: &dyn Queryable,
        ast: &Expr,
        deferred: Deferred<'_>,
    ) -> Result<(), QueryError> {
        if deferred.is_empty() {
            return Ok(());
        }
        let steps = self.range_steps();
        let fused = series_major::fused_aggregates(ast);
        let stats_only = super::stats_decoding::stats_only_selectors(ast);
        for (vs, need) in deferred {
            let Some(&(node, a, _)) = fused.iter().find(|f| f.2 == vs.id) else {
                return Err(QueryError::Internal(
                    "deferred selector without aggregation".into(),
                ));
            };
            match self.stream_fused_aggregate(q, a, vs, &need, &steps)? {
                Some(per_step) => {
                    let slots = per_step.into_iter().map(|v| Mutex::new(Some(v))).collect();
                    self.streamed.insert(series_major::node_id(node), slots);
                }
                None => {
                    let data = selectors::load(self, q, vs, &need, stats_only.contains(&vs.id))?;
                    self.data.insert(vs.id, data);
                }
            }
        }
        Ok(())
    }

    /// The slots of streamed aggregation `node` for the block of `steps`.
    pub(super) fn streamed_block(&self, node: &Expr, steps: &[i64]) -> Option<StreamedSteps> {
        let all = self.streamed.get(&series_major::node_id(node))?;
        let slots = steps
            .iter()
            .map(|&t| {
                let i = usize::try_from((t - self.start) / self.step.max(1)).ok();
                let v = i
                    .and_then(|i| all.get(i))
                    .and_then(|s| s.lock().expect("lock").take());
                Mutex::new(v)
            })
            .collect();
        Some(slots)
    }

    /// Aggregation `a` of a leaf over selector `vs` at each of `steps`, from its
    /// series read batch by batch. `None` when it is left to the usual path: the
    /// series hold histograms, evaluating the leaf failed (that path reports the
    /// error as it always has), or the values would take too much memory.
    fn stream_fused_aggregate(
        &self,
        q: &dyn Queryable,
        a: &AggregateExpr,
        vs: &VectorSelector,
        need: &Need,
        steps: &[i64],
    ) -> Result<Option<Vec<Vec<Vec<Elem>>>>, QueryError> {
        let Ok(leaf) = self.leaf(a.expr.unparen(), steps) else {
            return Ok(None);
        };
        self.check_alive()?;
        let batches = selectors::select_batches(q, vs, need)?;
        if batches.max_series().saturating_mul(steps.len()) > MAX_STREAMED_VALUES {
            return Ok(None);
        }
        let groups = Mutex::new(GroupInterner::default());
        let loaded = AtomicUsize::new(0);
        let grouping = a.grouping.as_ref();
        let per_batch: Vec<Option<(LeafValues, Vec<u32>)>> = (0..batches.batch_count())
            .into_par_iter()
            .map(|i| {
                self.check_alive()?;
                let selected = batches.read_batch(i)?;
                if selected.iter().any(|s| !s.histograms.is_empty()) {
                    return Ok(None);
                }
                let series: Vec<SeriesData> = selected
                    .into_iter()
                    .map(|s| selectors::series_data(s, need.keep_stale, false))
                    .collect();
                let n: usize = series.iter().map(|s| s.points.len()).sum();
                self.check_samples(loaded.fetch_add(n, Ordering::Relaxed) + n)?;
                let Ok(values) = self.leaf_values(&leaf, &series, steps) else {
                    return Ok(None);
                };
                if values.histogram {
                    return Ok(None);
                }
                let signatures: Vec<Signature> = series
                    .iter()
                    .map(|s| aggregate::group_signature(&s.labels, grouping))
                    .collect();
                let ids = groups
                    .lock()
                    .expect("group interner lock")
                    .ids(signatures, &series, grouping);
                Ok(Some((values, ids)))
            })
            .collect::<Result<_, QueryError>>()?;
        let Some(per_batch) = per_batch.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        self.charge_samples(loaded.into_inner())?;
        let (chunks, ids): (Vec<LeafValues>, Vec<Vec<u32>>) = per_batch.into_iter().unzip();
        let ids = ids.concat();
        let group_labels = groups.into_inner().expect("group interner lock").labels;
        Ok(Some(fold_groups(
            a.op,
            steps.len(),
            &chunks,
            &ids,
            &group_labels,
        )))
    }
}

/// Dense group ids by group key across a streamed aggregation's batches, with
/// each group's output labels (built once, from its first series seen).
#[derive(Default)]
struct GroupInterner {
    ids: FxHashMap<Signature, u32>,
    labels: Vec<Option<Arc<Labels>>>,
}

impl GroupInterner {
    /// The group id of each of `series`, whose group keys are `signatures`.
    fn ids(
        &mut self,
        signatures: Vec<Signature>,
        series: &[SeriesData],
        grouping: Option<&Grouping>,
    ) -> Vec<u32> {
        let GroupInterner { ids, labels } = self;
        signatures
            .into_iter()
            .zip(series)
            .map(|(sig, s)| {
                *ids.entry(sig).or_insert_with(|| {
                    labels.push(Some(Arc::new(aggregate::group_labels(&s.labels, grouping))));
                    (labels.len() - 1) as u32
                })
            })
            .collect()
    }
}
