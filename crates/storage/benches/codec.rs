//! Block codec throughput (samples/s) and size (bytes/sample) on realistic series.
//!
//! Run: `cargo bench -p tidemark-storage --bench codec`. Sizes are printed before the
//! timings; each data set is 32 series × 8192 samples (full blocks).
//!
//! Times are the benchmark thread's CPU time, not wall time: on a shared machine
//! wall time mostly measures the other processes, while CPU time is the per-core
//! cost that decides how many samples one core can decode.

use std::hint::black_box;
use std::time::Duration;

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `routine` `iters` times and returns the CPU time it used.
fn cpu_time(iters: u64, mut routine: impl FnMut()) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        routine();
    }
    thread_cpu_time() - start
}

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tidemark_storage::encoding::{decode_block, encode_block, MAX_BLOCK_SAMPLES};

const SERIES: usize = 32;
const N: usize = MAX_BLOCK_SAMPLES;
const START_MS: i64 = 1_700_000_000_000;
const STALE_NAN: f64 = tidemark_model::STALE_NAN;

struct Series {
    timestamps: Vec<i64>,
    values: Vec<f64>,
}

/// Fixed 15 s scrape interval, optionally with a few ms of jitter as real scrapers have.
fn scrape_times(rng: &mut StdRng, jitter_ms: i64) -> Vec<i64> {
    (0..N as i64)
        .map(|i| {
            START_MS
                + i * 15_000
                + if jitter_ms > 0 {
                    rng.random_range(0..jitter_ms)
                } else {
                    0
                }
        })
        .collect()
}

/// A counter growing by `step()` per scrape (in units of 10^-places), reset to zero now and then.
fn counter(rng: &mut StdRng, places: i32, max_step: i64, reset_every: usize) -> Vec<f64> {
    let scale = 10f64.powi(places);
    let mut total = rng.random_range(0..1_000_000i64);
    (0..N)
        .map(|i| {
            if i > 0 && i % reset_every == 0 {
                total = 0;
            }
            total += rng.random_range(0..=max_step);
            total as f64 / scale
        })
        .collect()
}

/// A random walk rounded to `places` decimal digits.
fn gauge(rng: &mut StdRng, places: i32, start: i64, max_step: i64) -> Vec<f64> {
    let scale = 10f64.powi(places);
    let mut level = start;
    (0..N)
        .map(|_| {
            level += rng.random_range(-max_step..=max_step);
            level as f64 / scale
        })
        .collect()
}

fn counters(rng: &mut StdRng) -> Vec<Series> {
    (0..SERIES)
        .map(|_| Series {
            timestamps: scrape_times(rng, 0),
            values: counter(rng, 2, 500, 3000),
        })
        .collect()
}

fn gauges(rng: &mut StdRng) -> Vec<Series> {
    (0..SERIES)
        .map(|i| Series {
            timestamps: scrape_times(rng, 0),
            values: gauge(rng, 2 + (i % 2) as i32, 50_000, 40),
        })
        .collect()
}

fn constants(rng: &mut StdRng) -> Vec<Series> {
    (0..SERIES)
        .map(|i| Series {
            timestamps: scrape_times(rng, 0),
            values: vec![i as f64; N],
        })
        .collect()
}

/// Shapes seen on node_exporter: CPU seconds (centiseconds), byte counters, page-sized
/// memory gauges, load averages, constant info metrics, ratios that are not short
/// decimals; jittered timestamps and a stale marker at the end of some series.
fn node_exporter(rng: &mut StdRng) -> Vec<Series> {
    (0..SERIES)
        .map(|i| {
            let timestamps = scrape_times(rng, 4);
            let mut values = match i % 8 {
                0 | 1 => counter(rng, 2, 1500, usize::MAX),
                2 => counter(rng, 0, 200_000, usize::MAX),
                3 => gauge(rng, 0, 2_000_000, 300)
                    .into_iter()
                    .map(|pages| pages * 4096.0)
                    .collect(),
                4 => gauge(rng, 2, 100, 5).into_iter().map(f64::abs).collect(),
                5 => vec![1.0; N],
                6 => gauge(rng, 0, 1_000_000, 1000)
                    .into_iter()
                    .map(|v| v / 3.0)
                    .collect(),
                _ => counter(rng, 0, 3, usize::MAX),
            };
            if i % 5 == 0 {
                values[N - 1] = STALE_NAN;
            }
            Series { timestamps, values }
        })
        .collect()
}

fn encode_all(data: &[Series]) -> Vec<Vec<u8>> {
    data.iter()
        .map(|s| {
            let mut out = Vec::new();
            encode_block(&s.timestamps, &s.values, &mut out);
            out
        })
        .collect()
}

/// Three hours at a 15 s interval: the size of blocks cut by a time-partitioned flush.
const SMALL_BLOCK: usize = 720;

fn small_block_bytes_per_sample(data: &[Series]) -> f64 {
    let mut out = Vec::new();
    let mut samples = 0;
    for s in data {
        for (ts, vs) in s
            .timestamps
            .chunks(SMALL_BLOCK)
            .zip(s.values.chunks(SMALL_BLOCK))
        {
            encode_block(ts, vs, &mut out);
            samples += ts.len();
        }
    }
    out.len() as f64 / samples as f64
}

fn bench_codec(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let data_sets = [
        ("counters", counters(&mut rng)),
        ("gauges", gauges(&mut rng)),
        ("constants", constants(&mut rng)),
        ("node_exporter", node_exporter(&mut rng)),
    ];
    let samples = (SERIES * N) as u64;
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(samples));
    for (name, data) in &data_sets {
        let blocks = encode_all(data);
        let bytes: usize = blocks.iter().map(Vec::len).sum();
        println!(
            "size {name}: {:.3} bytes/sample",
            bytes as f64 / samples as f64
        );
        println!(
            "size {name}, {SMALL_BLOCK}-sample blocks: {:.3} bytes/sample",
            small_block_bytes_per_sample(data)
        );
        for (block, series) in blocks.iter().zip(data) {
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            decode_block(block, &mut ts, &mut vs).expect("own block decodes");
            assert_eq!(ts, series.timestamps);
            assert!(vs
                .iter()
                .zip(&series.values)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        group.bench_with_input(BenchmarkId::new("encode", name), data, |b, data| {
            let mut out = Vec::with_capacity(bytes);
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    out.clear();
                    for s in data {
                        encode_block(&s.timestamps, &s.values, &mut out);
                    }
                    black_box(out.len());
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("decode", name), &blocks, |b, blocks| {
            let (mut ts, mut vs) = (Vec::with_capacity(N), Vec::with_capacity(N));
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    for block in blocks {
                        ts.clear();
                        vs.clear();
                        decode_block(block, &mut ts, &mut vs).unwrap();
                        black_box((&ts, &vs));
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    targets = bench_codec
}
criterion_main!(benches);
