//! The bridge from the PromQL engine to the storage engine, with the per-query guards
//! (client-disconnect cancellation and deadline) checked at every select.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tidemark_model::{Matcher, Tenant};
use tidemark_query::{QueryContext, QueryError, Queryable, SelectedSeries};
use tidemark_storage::{Storage, StorageError};

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
            .select(self.tenant, matchers, start_ms, end_ms)
            .map_err(storage_to_query_error)?;
        // A long select may have outlived the client or the deadline: do not hand the
        // engine work whose result nobody will read.
        check(&self.ctx)?;
        Ok(series.into_iter().map(SelectedSeries::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
