//! Crash safety: a child process appends batches with `FsyncPolicy::EveryBatch`,
//! printing each batch id once `append` returned; the parent SIGKILLs it at random
//! moments (flushes and merges run every few milliseconds, so kills land inside them
//! too), reopens the store and checks that every acknowledged sample is there.
//!
//! The child is this same test binary re-run with `--exact crash_child --ignored`
//! and the environment variables below.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use tidemark_model::{Sample, Tenant, TimeSeries};
use tidemark_storage::{FsyncPolicy, Storage, StorageOptions};

const ENV_DIR: &str = "TIDEMARK_CRASH_DIR";
const ENV_FIRST_BATCH: &str = "TIDEMARK_CRASH_FIRST_BATCH";
const ENV_BASE_TS: &str = "TIDEMARK_CRASH_BASE_TS";
const SERIES_PER_BATCH: u64 = 8;
const SAMPLES_PER_SERIES: i64 = 4;
const ROUNDS: usize = 20;

fn crash_options(path: &std::path::Path) -> StorageOptions {
    StorageOptions {
        fsync: FsyncPolicy::EveryBatch,
        flush_interval: Duration::from_millis(15),
        ..options(path)
    }
}

/// Batch `id` writes to series `s = id % 64 .. + SERIES_PER_BATCH` at timestamps unique to the batch.
fn batch(id: u64, base_ts: i64) -> Vec<TimeSeries> {
    (0..SERIES_PER_BATCH)
        .map(|k| {
            let s = (id + k) % 64;
            let samples = (0..SAMPLES_PER_SERIES)
                .map(|j| {
                    Sample::new(
                        base_ts + id as i64 * 10 + j,
                        (id * 100 + k) as f64 + j as f64 / 8.0,
                    )
                })
                .collect();
            TimeSeries::new(labels("crash", &[("s", &s.to_string())]), samples)
        })
        .collect()
}

#[test]
#[ignore = "helper process for kill_9_never_loses_acknowledged_appends"]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let first: u64 = std::env::var(ENV_FIRST_BATCH).unwrap().parse().unwrap();
    let base_ts: i64 = std::env::var(ENV_BASE_TS).unwrap().parse().unwrap();
    let storage = Storage::open(crash_options(std::path::Path::new(&dir))).unwrap();
    println!("OPEN");
    // Bounded even if the parent never kills us.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = first;
    while Instant::now() < deadline {
        storage
            .append(Tenant::DEFAULT, &batch(id, base_ts))
            .unwrap();
        println!("ACK {id}");
        id += 1;
    }
}

#[test]
fn kill_9_never_loses_acknowledged_appends() {
    let dir = tempfile::tempdir().unwrap();
    let base_ts = now_ms() - HOUR_MS;
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut next_batch = 0u64;
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir.path())
            .env(ENV_FIRST_BATCH, next_batch.to_string())
            .env(ENV_BASE_TS, base_ts.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = Duration::from_millis(rng.random_range(20..250));
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            let mut opened_at = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "OPEN" {
                    opened_at = Some(Instant::now());
                } else if let Some(id) = line.strip_prefix("ACK ") {
                    ids.push(id.parse::<u64>().unwrap());
                }
            }
            (ids, opened_at)
        });
        // Kill relative to process start, so some kills land during open/replay too.
        std::thread::sleep(kill_after);
        child.kill().unwrap();
        child.wait().unwrap();
        let (ids, _) = reader.join().unwrap();
        acked.extend(&ids);
        next_batch = ids.last().map_or(next_batch, |l| l + 1) + 1_000;

        let storage = Storage::open(crash_options(dir.path()))
            .unwrap_or_else(|e| panic!("round {round}: store failed to open after kill: {e}"));
        verify(&storage, &acked, base_ts, round);
        let mut metrics = String::new();
        storage.write_metrics(&mut metrics);
        assert!(
            metrics.contains("tidemark_storage_corruptions_total 0\n"),
            "round {round}: a kill must never look like corruption:\n{metrics}"
        );
        storage.close().unwrap();
    }
    assert!(
        acked.len() > ROUNDS,
        "children acknowledged too little to mean anything: {}",
        acked.len()
    );
    eprintln!(
        "{} rounds, {} acknowledged batches, {:?}",
        ROUNDS,
        acked.len(),
        started.elapsed()
    );
}

fn verify(storage: &Storage, acked: &BTreeSet<u64>, base_ts: i64, round: usize) {
    let got = select_all(storage, "crash");
    let present: BTreeSet<(String, i64, u64)> = got
        .iter()
        .flat_map(|ts| {
            let s = ts.labels.get("s").unwrap().to_string();
            ts.samples
                .iter()
                .map(move |x| (s.clone(), x.timestamp, x.value.to_bits()))
        })
        .collect();
    for &id in acked {
        for ts in batch(id, base_ts) {
            let s = ts.labels.get("s").unwrap().to_string();
            for x in ts.samples {
                assert!(
                    present.contains(&(s.clone(), x.timestamp, x.value.to_bits())),
                    "round {round}: acknowledged batch {id} lost sample s={s} t={} v={}",
                    x.timestamp,
                    x.value
                );
            }
        }
    }
}
