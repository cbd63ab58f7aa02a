//! Retention: whole day partitions are deleted once their last millisecond is older
//! than the retention period, so expiry never rewrites data.

use std::sync::atomic::Ordering;

use crate::engine::{retention_cutoff, Engine};
use crate::time;
use crate::StorageError;

impl Engine {
    /// Drops expired partitions and their index days; returns how many were dropped.
    pub(crate) fn enforce_retention(&self) -> Result<usize, StorageError> {
        let _maintenance = self.maintenance_lock.lock();
        let cutoff = retention_cutoff(&self.opts);
        let dropped = self
            .partitions
            .drop_partitions(|day| time::day_end(day) < cutoff)?;
        self.index.drop_days_before(time::day_of(cutoff));
        self.metrics
            .partitions_dropped
            .fetch_add(dropped as u64, Ordering::Relaxed);
        if dropped > 0 {
            tracing::info!(dropped, "retention dropped partitions");
        }
        Ok(dropped)
    }
}
