//! The bridge from the PromQL engine to the storage engine, with the per-query guards
//! (client-disconnect cancellation and deadline) checked at every select.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tidemark_model::{is_stale_nan, Matcher, Sample, Tenant, STALE_NAN};
use tidemark_query::{QueryContext, QueryError, Queryable, SelectedSeries, SeriesBatches};
use tidemark_storage::{SelectBatches, SeriesSamples, Storage, StorageError};

/// Cancels the query when dropped. The HTTP handler holds it, so a client disconnect
/// (which drops the handler future) stops the evaluation at its next check.
pub struct CancelOnDrop(pub QueryContext);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A fresh engine context with a deadline.
pub fn query_context(deadline: Instant) -> QueryContext {
    QueryContext {
        deadline: Some(deadline),
        ..QueryContext::default()
    }
}

/// `Err` when the query should stop now: canceled by the client or past its deadline.
pub fn check(ctx: &QueryContext) -> Result<(), QueryError> {
    if ctx.cancel.load(Ordering::Relaxed) {
        return Err(QueryError::Canceled);
    }
    if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(QueryError::Timeout("query execution".to_string()));
    }
    Ok(())
}

/// `Queryable` over the local storage for one tenant.
pub struct StorageQueryable {
    storage: Arc<Storage>,
    tenant: Tenant,
    ctx: QueryContext,
}

impl StorageQueryable {
    pub fn new(storage: Arc<Storage>, tenant: Tenant, ctx: QueryContext) -> StorageQueryable {
        StorageQueryable {
            storage,
            tenant,
            ctx,
        }
    }
}

fn storage_to_query_error(e: StorageError) -> QueryError {
    match e {
        StorageError::TooManySeries { .. } => QueryError::Execution(e.to_string()),
        StorageError::Invalid(m) => QueryError::BadData(m),
        other => QueryError::Internal(other.to_string()),
    }
}

/// Storage's samples in the engine's form. A histogram whose sum is the stale marker
/// (how Prometheus marks a native histogram series stale) becomes a float stale
/// marker, the one form of staleness the engine knows.
fn to_selected(s: SeriesSamples) -> SelectedSeries {
    let SeriesSamples {
        labels,
        mut floats,
        mut histograms,
    } = s;
    if histograms.iter().any(|h| is_stale_nan(h.histogram.sum)) {
        histograms.retain(|h| {
            let stale = is_stale_nan(h.histogram.sum);
            if stale {
                floats.push(Sample::new(h.timestamp, STALE_NAN));
            }
            !stale
        });
        floats.sort_by_key(|f| f.timestamp);
    }
    SelectedSeries {
        labels,
        floats,
        histograms,
        ..SelectedSeries::default()
    }
}

impl Queryable for StorageQueryable {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        check(&self.ctx)?;
        let series = self
            .storage
            .select_with_histograms(self.tenant, matchers, start_ms, end_ms)
            .map_err(storage_to_query_error)?;
        // A long select may have outlived the client or the deadline: do not hand the
        // engine work whose result nobody will read.
        check(&self.ctx)?;
        Ok(series.into_iter().map(to_selected).collect())
    }

    fn select_batches(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Box<dyn SeriesBatches + '_>, QueryError> {
        check(&self.ctx)?;
        let batches = self
            .storage
            .select_batches(self.tenant, matchers, start_ms, end_ms)
            .map_err(storage_to_query_error)?;
        Ok(Box::new(StorageBatches(batches)))
    }
}

/// The storage engine's batched select as the engine reads it.
struct StorageBatches<'s>(SelectBatches<'s>);

impl SeriesBatches for StorageBatches<'_> {
    fn batch_count(&self) -> usize {
        self.0.len()
    }

    fn max_series(&self) -> usize {
        self.0.max_series()
    }

    fn read_batch(&self, i: usize) -> Result<Vec<SelectedSeries>, QueryError> {
        let series = self.0.read(i).map_err(storage_to_query_error)?;
        Ok(series.into_iter().map(to_selected).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stale_histograms_become_float_stale_markers() {
        use tidemark_model::{FloatHistogram, HistogramSample, Labels};
        let h = |t: i64, sum: f64| HistogramSample {
            timestamp: t,
            histogram: FloatHistogram {
                sum,
                ..Default::default()
            },
        };
        let selected = to_selected(SeriesSamples {
            labels: Labels::from_pairs([("__name__", "rpc")]).into(),
            floats: vec![Sample::new(1, 1.0), Sample::new(9, 2.0)],
            histograms: vec![h(3, 1.0), h(5, STALE_NAN)],
        });
        assert_eq!(selected.histograms, vec![h(3, 1.0)]);
        let ts: Vec<i64> = selected.floats.iter().map(|f| f.timestamp).collect();
        assert_eq!(ts, vec![1, 5, 9]);
        assert!(is_stale_nan(selected.floats[1].value));
    }

    #[test]
    fn check_reports_cancel_and_deadline() {
        let ctx = query_context(Instant::now() + Duration::from_secs(60));
        assert!(check(&ctx).is_ok());
        {
            let _guard = CancelOnDrop(ctx.clone());
        }
        assert_eq!(check(&ctx), Err(QueryError::Canceled));
        let late = query_context(Instant::now());
        assert!(matches!(check(&late), Err(QueryError::Timeout(_))));
    }
}
