//! Cardinality statistics (`/api/v1/status/tsdb`) and the metrics exposition.

use std::collections::{BTreeMap, HashMap, HashSet};

use tidemark_model::Tenant;

use crate::engine::Engine;
use crate::metrics::Gauges;
use crate::{StorageError, TsdbStatus};

impl Engine {
    pub(crate) fn tsdb_status(
        &self,
        tenant: Tenant,
        top_n: usize,
    ) -> Result<TsdbStatus, StorageError> {
        self.check_open()?;
        let series = self.registry.live_series(tenant);
        let mut by_metric: HashMap<&str, u64> = HashMap::new();
        let mut by_name: HashMap<&str, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        let mut values: HashMap<&str, HashSet<&str>> = HashMap::new();
        for info in &series {
            if let Some(m) = info.labels.metric_name() {
                *by_metric.entry(m).or_default() += 1;
            }
            for l in info.labels.iter() {
                *by_name.entry(&l.name).or_default() += 1;
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
                values.entry(&l.name).or_default().insert(&l.value);
            }
        }
        Ok(TsdbStatus {
            num_series: series.len() as u64,
            series_count_by_metric_name: top(
                by_metric.into_iter().map(|(k, v)| (k.to_string(), v)),
                top_n,
            ),
            series_count_by_label_name: top(
                by_name.into_iter().map(|(k, v)| (k.to_string(), v)),
                top_n,
            ),
            series_count_by_label_value_pair: top(by_pair.into_iter(), top_n),
            label_value_count_by_label_name: top(
                values
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.len() as u64)),
                top_n,
            ),
        })
    }

    pub(crate) fn write_metrics(&self, out: &mut String) {
        let mut parts_by_level: BTreeMap<u32, u64> = BTreeMap::new();
        let mut part_bytes = 0;
        let all = self.partitions.all();
        for p in all.iter().flat_map(|(_, v)| v) {
            *parts_by_level.entry(p.meta.level).or_default() += 1;
            part_bytes += p.size_bytes;
        }
        let gauges = Gauges {
            active_series: self.registry.live_count() as u64,
            parts_by_level,
            partitions: all.len() as u64,
            part_bytes,
            wal_bytes: self.wal.size_bytes(),
            wal_fsyncs: self.wal.fsyncs(),
            buffer_bytes: self.buffer.bytes(),
            block_cache: self.block_cache.stats(),
        };
        self.metrics.write(&gauges, out);
    }
}

/// Sorted by count descending, then name, cut to `n` (0 = all).
fn top(items: impl Iterator<Item = (String, u64)>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = items.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if n > 0 {
        v.truncate(n);
    }
    v
}
