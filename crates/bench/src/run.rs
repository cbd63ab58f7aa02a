//! One measured cycle of one system: fresh start, replay, flush and merge, measure,
//! query, restart, measure again, stop.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::compare;
use crate::measure;
use crate::queries::{self, QueryRun, Range};
use crate::replay;
use crate::systems::{Server, System};
use crate::workload::Workload;

/// Knobs of a cycle that do not change the workload.
#[derive(Debug, Clone)]
pub struct CycleOptions {
    pub concurrency: usize,
    pub query_repeats: usize,
    pub ready_timeout: Duration,
    pub request_timeout: Duration,
}

/// Latency of one query on one system.
#[derive(Debug, Clone, Serialize)]
pub struct QueryLatency {
    pub name: &'static str,
    pub median_ms: f64,
    pub p90_ms: f64,
}

/// Everything measured in one cycle.
#[derive(Debug, Clone, Serialize)]
pub struct CycleFigures {
    /// Samples acknowledged by the server (stale markers included).
    pub samples_sent: u64,
    /// `sum(count_over_time(...))` over the whole span after the restart.
    pub samples_readable: f64,
    pub replay_seconds: f64,
    /// Server CPU (user + system) from the first request until flush and merge finished.
    pub ingest_cpu_seconds: f64,
    pub flush_merge_seconds: f64,
    /// VmHWM before the restart: the peak of ingestion, merging and queries.
    pub peak_rss_bytes: u64,
    /// VmRSS a few seconds after flush and merge, before queries.
    pub steady_rss_bytes: u64,
    pub disk_data_bytes: u64,
    pub disk_index_bytes: Option<u64>,
    pub disk_note: String,
    /// Whole data directory after the final stop.
    pub data_dir_bytes_at_stop: u64,
    pub first_start_seconds: f64,
    /// Restart on the full data directory until the ready endpoint answers.
    pub restart_seconds: f64,
    /// VmHWM of the restarted process when it became ready.
    pub restart_peak_rss_bytes: u64,
    pub shutdown_seconds: f64,
    pub flush_note: String,
    pub queries: Vec<QueryLatency>,
    /// Queries whose results changed across the restart (should be empty).
    pub changed_by_restart: Vec<String>,
}

/// A cycle's figures plus the query results, kept for cross-checks between systems.
pub struct Cycle {
    pub figures: CycleFigures,
    pub results: Vec<QueryRun>,
}

/// How long the server may settle after merging before "steady" RSS is read.
const SETTLE: Duration = Duration::from_secs(3);

pub fn run_cycle(
    system: &dyn System,
    workload: &Workload,
    opts: &CycleOptions,
    work_dir: &Path,
    tag: &str,
) -> Result<Cycle> {
    let data_dir = work_dir.join(format!("{tag}-data"));
    let scratch = work_dir.join(format!("{tag}-scratch"));
    let log = work_dir.join(format!("{tag}.log"));
    for dir in [&data_dir, &scratch] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(&data_dir)?;
    std::fs::create_dir_all(&scratch)?;

    let server = Server::start(system, &data_dir, &scratch, &log, opts.ready_timeout)?;
    let first_start = server.startup;
    let write_url = server.url(system.write_path());
    let cpu_before = measure::cpu_seconds(server.pid)?;
    let replayed = replay::replay(
        &write_url,
        &workload.requests,
        opts.concurrency,
        opts.request_timeout,
    )
    .with_context(|| {
        format!(
            "replaying into {}; log tail:\n{}",
            system.name(),
            server.log_tail()
        )
    })?;
    let flush_started = Instant::now();
    let flush_note = system.flush_and_merge(&server).context("flush and merge")?;
    let flush_merge_seconds = flush_started.elapsed().as_secs_f64();
    let ingest_cpu_seconds = measure::cpu_seconds(server.pid)? - cpu_before;

    std::thread::sleep(SETTLE);
    let steady_rss = measure::memory(server.pid)?.rss;
    let disk = system.disk_usage(&server).context("measuring disk usage")?;
    system.after_measure(&server)?;

    let range = Range::over(
        workload.stats.first_timestamp_ms,
        workload.stats.last_timestamp_ms,
        workload.fleet.interval_ms,
    );
    let host = steady_host(workload)?;
    let results = queries::run_all(system, &server, &host, range, opts.query_repeats)?;
    let peak_rss = measure::memory(server.pid)?.peak;
    server
        .stop(Duration::from_secs(600))
        .context("first stop")?;

    let restarted = Instant::now();
    let server = Server::start(
        system,
        &data_dir,
        &scratch,
        &log,
        opts.ready_timeout.max(Duration::from_secs(1800)),
    )
    .context("restart on the full data directory")?;
    let restart_seconds = restarted.elapsed().as_secs_f64();
    let restart_peak_rss = measure::memory(server.pid)?.peak;

    let samples_readable = readable_samples(system, &server, workload)?;
    let mut changed_by_restart = Vec::new();
    for before in &results {
        let after = queries::query_range(system, &server, &before.text, range)
            .with_context(|| format!("query {} after restart", before.name))?;
        if let Some(d) = compare::diff(&before.result, &after) {
            changed_by_restart.push(format!("{}: {d}", before.name));
        }
    }
    let shutdown = server
        .stop(Duration::from_secs(600))
        .context("final stop")?;
    let data_dir_bytes_at_stop = measure::dir_bytes(&data_dir)?;

    let queries = results.iter().map(latency_of).collect();
    Ok(Cycle {
        figures: CycleFigures {
            samples_sent: replayed.samples,
            samples_readable,
            replay_seconds: replayed.wall.as_secs_f64(),
            ingest_cpu_seconds,
            flush_merge_seconds,
            peak_rss_bytes: peak_rss,
            steady_rss_bytes: steady_rss,
            disk_data_bytes: disk.data,
            disk_index_bytes: disk.index,
            disk_note: disk.note,
            data_dir_bytes_at_stop,
            first_start_seconds: first_start.as_secs_f64(),
            restart_seconds,
            restart_peak_rss_bytes: restart_peak_rss,
            shutdown_seconds: shutdown.as_secs_f64(),
            flush_note,
            queries,
            changed_by_restart,
        },
        results,
    })
}

/// A host that was up for the whole run, for the single-host panels.
fn steady_host(workload: &Workload) -> Result<String> {
    match workload
        .lives
        .iter()
        .find(|l| l.first_round == 0 && l.end_round == workload.fleet.rounds)
    {
        Some(l) => Ok(l.instance()),
        None => bail!("no host lives through the whole workload"),
    }
}

/// Stored samples, read back: must equal the workload's real samples. Counted per
/// metric name, because `count_over_time` drops names and PromQL then rejects the
/// duplicate label sets of a single fleet-wide expression.
fn readable_samples(system: &dyn System, server: &Server, workload: &Workload) -> Result<f64> {
    let stats = &workload.stats;
    let window_s = (stats.last_timestamp_ms - stats.first_timestamp_ms) / 1000 + 60;
    let mut total = 0.0;
    for name in queries::metric_names(system, server)? {
        let text =
            format!(r#"sum(count_over_time({{__name__="{name}",job="node"}}[{window_s}s]))"#);
        total += queries::query_number(system, server, &text, stats.last_timestamp_ms)
            .context("counting stored samples")?;
    }
    Ok(total)
}

fn latency_of(run: &QueryRun) -> QueryLatency {
    let mut ms: Vec<f64> = run
        .latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    QueryLatency {
        name: run.name,
        median_ms: percentile(&ms, 0.5),
        p90_ms: percentile(&ms, 0.9),
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.9), 9.0);
        assert_eq!(percentile(&[3.0], 0.9), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
