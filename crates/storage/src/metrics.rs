//! Engine counters and their Prometheus text exposition (`tidemark_storage_*`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::block_cache::BlockCacheStats;

/// Why samples were refused at append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RejectReason {
    /// Older than the retention period.
    TooOld,
    /// A series without any label.
    EmptyLabels,
}

impl RejectReason {
    fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooOld => "too_old",
            RejectReason::EmptyLabels => "empty_labels",
        }
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    pub rows_ingested: AtomicU64,
    rejected_too_old: AtomicU64,
    rejected_empty_labels: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_errors: AtomicU64,
    pub merge_errors: AtomicU64,
    pub merges_skipped_low_disk: AtomicU64,
    pub corruptions: AtomicU64,
    pub quarantined_parts: AtomicU64,
    pub partitions_dropped: AtomicU64,
    pub series_deleted: AtomicU64,
    pub wal_replayed_records: AtomicU64,
    /// Merges by output level.
    merges_by_level: Mutex<BTreeMap<u32, u64>>,
}

/// Gauges read at exposition time.
pub(crate) struct Gauges {
    pub active_series: u64,
    pub parts_by_level: BTreeMap<u32, u64>,
    pub partitions: u64,
    pub part_bytes: u64,
    pub wal_bytes: u64,
    pub wal_fsyncs: u64,
    pub buffer_bytes: u64,
    pub block_cache: BlockCacheStats,
}

impl Metrics {
    pub(crate) fn reject(&self, reason: RejectReason, n: u64) {
        let c = match reason {
            RejectReason::TooOld => &self.rejected_too_old,
            RejectReason::EmptyLabels => &self.rejected_empty_labels,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn merged(&self, output_level: u32) {
        *self.merges_by_level.lock().entry(output_level).or_default() += 1;
    }

    pub(crate) fn write(&self, g: &Gauges, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            out,
            "rows_ingested_total",
            "Samples accepted by append.",
            get(&self.rows_ingested),
        );
        header(
            out,
            "rows_rejected_total",
            "counter",
            "Samples refused by append, by reason.",
        );
        for (reason, c) in [
            (RejectReason::TooOld, &self.rejected_too_old),
            (RejectReason::EmptyLabels, &self.rejected_empty_labels),
        ] {
            let _ = writeln!(
                out,
                "tidemark_storage_rows_rejected_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                get(c)
            );
        }
        gauge(
            out,
            "active_series",
            "Series known to the registry and not deleted.",
            g.active_series,
        );
        header(
            out,
            "parts",
            "gauge",
            "Live parts by merge level (0 = flushed).",
        );
        for (level, n) in &g.parts_by_level {
            let _ = writeln!(out, "tidemark_storage_parts{{level=\"{level}\"}} {n}");
        }
        header(
            out,
            "merges_total",
            "counter",
            "Completed merges by output level.",
        );
        for (level, n) in self.merges_by_level.lock().iter() {
            let _ = writeln!(
                out,
                "tidemark_storage_merges_total{{level=\"{level}\"}} {n}"
            );
        }
        counter(
            out,
            "merges_skipped_low_disk_total",
            "Merges not started for lack of free disk space.",
            get(&self.merges_skipped_low_disk),
        );
        counter(
            out,
            "merge_errors_total",
            "Merges that failed.",
            get(&self.merge_errors),
        );
        gauge(out, "partitions", "Day partitions on disk.", g.partitions);
        gauge(
            out,
            "parts_bytes",
            "Bytes of live parts on disk.",
            g.part_bytes,
        );
        gauge(
            out,
            "wal_bytes",
            "Bytes of write-ahead log not yet checkpointed.",
            g.wal_bytes,
        );
        counter(
            out,
            "wal_fsyncs_total",
            "WAL fsyncs issued (group commit shares one among concurrent appends).",
            g.wal_fsyncs,
        );
        gauge(
            out,
            "buffer_bytes",
            "Approximate bytes held by the in-memory buffer.",
            g.buffer_bytes,
        );
        counter(
            out,
            "flushes_total",
            "Buffer flushes to parts.",
            get(&self.flushes),
        );
        counter(
            out,
            "flush_errors_total",
            "Flushes that failed (retried on the next flush).",
            get(&self.flush_errors),
        );
        counter(
            out,
            "corruptions_total",
            "Checksum or format errors found in parts, the WAL or the registry.",
            get(&self.corruptions),
        );
        counter(
            out,
            "quarantined_parts_total",
            "Parts moved aside after corruption was found.",
            get(&self.quarantined_parts),
        );
        counter(
            out,
            "partitions_dropped_total",
            "Partitions removed by retention.",
            get(&self.partitions_dropped),
        );
        counter(
            out,
            "series_deleted_total",
            "Series deleted through the API.",
            get(&self.series_deleted),
        );
        counter(
            out,
            "wal_replayed_records_total",
            "WAL records replayed at open.",
            get(&self.wal_replayed_records),
        );
        write_cache(out, "block", &g.block_cache);
    }
}

/// One cache's figures, labelled `cache="<name>"` so further caches share the families.
/// Hit ratio = hits / (hits + misses).
fn write_cache(out: &mut String, name: &str, s: &BlockCacheStats) {
    let families: [(&str, &str, &str, u64); 5] = [
        (
            "cache_hits_total",
            "counter",
            "Cache lookups that found their entry.",
            s.hits,
        ),
        (
            "cache_misses_total",
            "counter",
            "Cache lookups that had to read from disk.",
            s.misses,
        ),
        (
            "cache_entries",
            "gauge",
            "Entries held by the cache.",
            s.entries,
        ),
        (
            "cache_bytes",
            "gauge",
            "Approximate bytes held by the cache.",
            s.bytes,
        ),
        (
            "cache_capacity_bytes",
            "gauge",
            "The cache's share of the memory budget (0 = disabled).",
            s.capacity_bytes,
        ),
    ];
    for (family, kind, help, v) in families {
        header(out, family, kind, help);
        let _ = writeln!(out, "tidemark_storage_{family}{{cache=\"{name}\"}} {v}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(
        out,
        "# HELP tidemark_storage_{name} {help}\n# TYPE tidemark_storage_{name} {kind}"
    );
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "tidemark_storage_{name} {v}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "tidemark_storage_{name} {v}");
}
