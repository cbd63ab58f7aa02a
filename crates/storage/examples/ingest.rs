//! Measures ingest throughput and on-disk bytes per sample on a simple scrape-like
//! workload: `SERIES` series (counters and gauges), one sample per series every 15 s,
//! appended in batches by several writer threads.
//!
//! `cargo run --release -p tidemark-storage --example ingest -- [series] [points] [threads] [fsync]`
//! where fsync is `batch`, `never` (default `batch`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidemark_model::{Labels, Sample, Tenant, TimeSeries};
use tidemark_storage::{FsyncPolicy, Storage, StorageOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let series = arg(1, 10_000);
    let points = arg(2, 240);
    let threads = arg(3, 2);
    let fsync = match args.get(4).map(String::as_str) {
        Some("never") => FsyncPolicy::Never,
        _ => FsyncPolicy::EveryBatch,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Arc::new(
        Storage::open(StorageOptions {
            path: dir.path().to_path_buf(),
            fsync,
            flush_interval: Duration::from_secs(5),
            ..StorageOptions::default()
        })
        .expect("open"),
    );
    let labels: Arc<Vec<Labels>> = Arc::new(
        (0..series)
            .map(|i| {
                Labels::from_pairs([
                    (
                        "__name__",
                        if i % 2 == 0 {
                            "http_requests_total"
                        } else {
                            "memory_bytes"
                        }
                        .to_string(),
                    ),
                    ("instance", format!("host-{}:9100", i / 100)),
                    ("job", "node".to_string()),
                    ("path", format!("/api/v{}", i % 100)),
                ])
            })
            .collect(),
    );
    let start_ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - points as i64 * 15_000;
    let started = Instant::now();
    let cpu_started = process_cpu_seconds();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (storage, labels) = (storage.clone(), labels.clone());
            std::thread::spawn(move || {
                // Each thread owns a slice of the series, like separate scrape targets.
                let mine: Vec<usize> = (t..labels.len()).step_by(threads).collect();
                for p in 0..points {
                    let ts = start_ts + p as i64 * 15_000 + (p as i64 * 7919) % 23; // small jitter
                    for chunk in mine.chunks(1000) {
                        let batch: Vec<TimeSeries> = chunk
                            .iter()
                            .map(|&i| {
                                let v = if i % 2 == 0 {
                                    (p * (i % 17 + 1)) as f64
                                } else {
                                    1e6 + ((p * 31 + i * 7) % 1000) as f64 * 4096.0
                                };
                                TimeSeries::new(labels[i].clone(), vec![Sample::new(ts, v)])
                            })
                            .collect();
                        storage.append(Tenant::DEFAULT, &batch).expect("append");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ingest = started.elapsed();
    let ingest_cpu = process_cpu_seconds() - cpu_started;
    let total = (series * points) as f64;
    storage.force_merge().expect("force merge");
    let mut metrics = String::new();
    storage.write_metrics(&mut metrics);
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let appends = (threads * points * series.div_ceil(threads).div_ceil(1000)) as f64;
    println!(
        "WAL fsyncs: {} for about {appends} appends",
        metric("tidemark_storage_wal_fsyncs_total")
    );
    let part_bytes: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tidemark_storage_parts_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let q = Instant::now();
    let all = storage
        .select(
            Tenant::DEFAULT,
            &[tidemark_model::Matcher::equal("__name__", "memory_bytes")],
            start_ts,
            start_ts + points as i64 * 15_000,
        )
        .expect("select");
    let read: usize = all.iter().map(|s| s.samples.len()).sum();
    let select_time = q.elapsed();
    println!("series={series} points={points} threads={threads} fsync={fsync:?}");
    println!(
        "ingest: {:.0} samples/s ({:.2?} for {total} samples)",
        total / ingest.as_secs_f64(),
        ingest
    );
    println!(
        "ingest CPU: {ingest_cpu:.2} s = {:.3} CPU s per million samples (user + system, all threads)",
        ingest_cpu / total * 1e6
    );
    println!(
        "on disk after force_merge: {part_bytes} bytes = {:.3} bytes/sample",
        part_bytes / total
    );
    println!(
        "select of {} series / {read} samples: {:.2?} ({:.0} samples/s)",
        all.len(),
        select_time,
        read as f64 / select_time.as_secs_f64()
    );
    storage.close().expect("close");
}

/// User + system CPU time of the whole process so far (every thread, background
/// flushes included): what ingest costs, independent of how busy the machine is.
fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
