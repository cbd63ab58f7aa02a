//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use tidemark_model::{Labels, Matcher, Sample, Tenant, TimeSeries};
use tidemark_storage::{FsyncPolicy, Storage, StorageOptions};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Options for tests: background flushes effectively off unless a test asks.
pub fn options(path: &Path) -> StorageOptions {
    StorageOptions {
        path: path.to_path_buf(),
        retention: Duration::from_secs(30 * 24 * 3600),
        dedup_interval: Duration::ZERO,
        fsync: FsyncPolicy::EveryBatch,
        memory_budget_bytes: 1 << 30,
        max_series_per_select: 0,
        flush_interval: Duration::from_secs(3600),
    }
}

pub fn open(path: &Path) -> Storage {
    Storage::open(options(path)).expect("open storage")
}

pub fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut v: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    v.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Labels::from_pairs(v)
}

pub fn series(labels: Labels, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::new(
        labels,
        samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    )
}

pub fn name_is(name: &str) -> Vec<Matcher> {
    vec![Matcher::equal("__name__", name)]
}

pub fn select_all(s: &Storage, name: &str) -> Vec<TimeSeries> {
    s.select(Tenant::DEFAULT, &name_is(name), i64::MIN / 2, i64::MAX / 2)
        .expect("select")
}

/// Recursively copies a directory (a "crash image" of a data directory).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
