//! Property test: random out-of-order batches with duplicates and stale markers,
//! interleaved with flushes, merges, deletions and reopens, always read back equal
//! to a simple in-memory reference model.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use tidemark_model::{Labels, Sample, Tenant, TimeSeries, STALE_NAN};
use tidemark_storage::{FsyncPolicy, Storage};

const SERIES: usize = 6;
/// Timestamps are `base + slot * STEP`: 300 slots of 15 minutes span four day partitions.
const SLOTS: i64 = 300;
const STEP_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(usize, i64, f64)>),
    Flush,
    ForceMerge,
    Reopen,
    Delete(usize),
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (-5i32..5).prop_map(f64::from),
        1 => Just(STALE_NAN),
        1 => Just(f64::NAN),
        2 => any::<f64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec((0..SERIES, 0..SLOTS, value()), 1..40).prop_map(Op::Append),
        2 => Just(Op::Flush),
        1 => Just(Op::ForceMerge),
        1 => Just(Op::Reopen),
        1 => (0..SERIES).prop_map(Op::Delete),
    ]
}

fn series_labels(i: usize) -> Labels {
    labels("p", &[("s", &i.to_string())])
}

/// The reference: per series, timestamp → value, keeping the greater value under
/// `f64::total_cmp` on equal timestamps (the documented rule).
#[derive(Default)]
struct Model {
    series: HashMap<usize, BTreeMap<i64, f64>>,
}

impl Model {
    fn insert(&mut self, s: usize, ts: i64, v: f64) {
        let slot = self.series.entry(s).or_default().entry(ts).or_insert(v);
        if v.total_cmp(slot).is_gt() {
            *slot = v;
        }
    }

    /// Expected read-back: with dedup, the latest sample of each `(k*d - d, k*d]` interval.
    fn expected(&self, dedup_ms: i64) -> BTreeMap<Labels, Vec<(i64, u64)>> {
        let mut out = BTreeMap::new();
        for (&s, samples) in &self.series {
            let mut kept: BTreeMap<i64, (i64, u64)> = BTreeMap::new();
            for (&ts, v) in samples {
                let key = if dedup_ms > 0 {
                    (ts + dedup_ms - 1).div_euclid(dedup_ms)
                } else {
                    ts
                };
                kept.insert(key, (ts, v.to_bits()));
            }
            if !kept.is_empty() {
                out.insert(series_labels(s), kept.into_values().collect());
            }
        }
        out
    }
}

fn read_back(s: &Storage) -> BTreeMap<Labels, Vec<(i64, u64)>> {
    select_all(s, "p")
        .into_iter()
        .map(|ts| {
            (
                ts.labels,
                ts.samples
                    .iter()
                    .map(|x| (x.timestamp, x.value.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

fn run(ops: Vec<Op>, dedup_ms: i64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.fsync = FsyncPolicy::Never;
    opts.dedup_interval = Duration::from_millis(dedup_ms as u64);
    let base = (now_ms() - 3 * DAY_MS) / STEP_MS * STEP_MS;
    let mut storage = Storage::open(opts.clone()).unwrap();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append(rows) => {
                let mut batch: Vec<TimeSeries> = Vec::new();
                for (s, slot, v) in rows {
                    let ts = base + slot * STEP_MS + (slot % 7) * 1000;
                    model.insert(s, ts, v);
                    batch.push(TimeSeries::new(series_labels(s), vec![Sample::new(ts, v)]));
                }
                let stats = storage.append(Tenant::DEFAULT, &batch).unwrap();
                prop_assert_eq!(stats.rejected, 0);
            }
            Op::Flush => storage.flush().unwrap(),
            Op::ForceMerge => storage.force_merge().unwrap(),
            Op::Reopen => {
                storage.close().unwrap();
                drop(storage);
                storage = Storage::open(opts.clone()).unwrap();
            }
            Op::Delete(s) => {
                let matchers = vec![
                    tidemark_model::Matcher::equal("__name__", "p"),
                    tidemark_model::Matcher::equal("s", s.to_string()),
                ];
                let deleted = storage.delete_series(Tenant::DEFAULT, &matchers).unwrap();
                let existed = model.series.remove(&s).is_some();
                prop_assert_eq!(deleted, u64::from(existed));
            }
        }
    }
    prop_assert_eq!(read_back(&storage), model.expected(dedup_ms));
    storage.close().unwrap();
    drop(storage);
    let storage = Storage::open(opts).unwrap();
    prop_assert_eq!(
        read_back(&storage),
        model.expected(dedup_ms),
        "after reopen"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn storage_matches_reference_model(ops in prop::collection::vec(op(), 1..25)) {
        run(ops, 0)?;
    }

    #[test]
    fn storage_matches_reference_model_with_dedup(ops in prop::collection::vec(op(), 1..25)) {
        run(ops, 3_600_000)?;
    }
}
