//! Measures how long opening a data directory takes.
//!
//! `cargo run --release -p tidemark-storage --example reopen -- <dir> [series] [points]`
//!
//! If `<dir>` does not exist it is first filled with `series` node_exporter-like series
//! (~10 labels each) of `points` samples 15 s apart, then closed cleanly. The directory
//! is then opened three times; each open's and close's wall time is printed, and the
//! engine's own log line (on stderr) breaks the open into phases. After the first open
//! a quarter more series are added, so the first close compacts the index.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tidemark_model::{Labels, Sample, Tenant, TimeSeries};
use tidemark_storage::{FsyncPolicy, Storage, StorageOptions};

const METRICS: usize = 100;

fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: reopen <dir> [series] [points]");
        std::process::exit(2);
    };
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let series = arg(2, 230_000);
    let points = arg(3, 8);
    let opts = StorageOptions {
        path: dir.clone(),
        fsync: FsyncPolicy::Never,
        flush_interval: Duration::from_secs(3600),
        ..StorageOptions::default()
    };
    if !dir.exists() {
        fill(&opts, series, points);
    }
    for round in 0..3 {
        let started = Instant::now();
        let storage = Storage::open(opts.clone()).expect("open");
        let opened = started.elapsed();
        if round == 0 {
            // Adds a day's worth of new series so the close has an index day to compact.
            append_points(&storage, &labels(series, series + series / 4), 1);
        }
        let closing = Instant::now();
        storage.close().expect("close");
        println!(
            "open {round}: {:.3} s, close {:.3} s",
            opened.as_secs_f64(),
            closing.elapsed().as_secs_f64()
        );
    }
}

fn node_labels(i: usize) -> Labels {
    let host = i / 460;
    Labels::from_pairs([
        ("__name__", format!("node_metric_{}", i % METRICS)),
        (
            "instance",
            format!("10.0.{}.{}:9100", host / 250, host % 250),
        ),
        ("job", "node".to_string()),
        ("datacenter", format!("dc{}", host % 4)),
        ("rack", format!("r{}", host % 40)),
        ("cpu", format!("{}", (i / METRICS) % 8)),
        ("mode", format!("m{}", (i / (METRICS * 8)) % 8)),
        ("os", "linux".to_string()),
        ("team", format!("team-{}", host % 12)),
        (
            "env",
            if host.is_multiple_of(3) {
                "staging"
            } else {
                "prod"
            }
            .to_string(),
        ),
    ])
}

fn labels(from: usize, to: usize) -> Vec<Labels> {
    (from..to).map(node_labels).collect()
}

/// Appends `points` samples 15 s apart, ending now, to every series; flushes halfway.
fn append_points(storage: &Storage, labels: &[Labels], points: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let start = now - points as i64 * 15_000;
    for p in 0..points {
        for chunk in labels.chunks(5_000) {
            let batch: Vec<TimeSeries> = chunk
                .iter()
                .map(|l| TimeSeries {
                    labels: l.clone(),
                    samples: vec![Sample {
                        timestamp: start + p as i64 * 15_000,
                        value: p as f64,
                    }],
                })
                .collect();
            storage.append(Tenant::default(), &batch).expect("append");
        }
        if p == points / 2 {
            storage.flush().expect("flush");
        }
    }
}

fn fill(opts: &StorageOptions, series: usize, points: usize) {
    let started = Instant::now();
    let storage = Storage::open(opts.clone()).expect("open");
    append_points(&storage, &labels(0, series), points);
    storage.close().expect("close");
    println!(
        "filled {series} series x {points} points in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
