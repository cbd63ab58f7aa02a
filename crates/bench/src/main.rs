//! `tidemark-bench`: replays one deterministic node_exporter-fleet workload into
//! Tidemark, VictoriaMetrics and Prometheus on this machine and reports ingest cost,
//! memory, disk, restart time and dashboard query latency side by side.
//!
//! See docs/benchmarks.md for the method and the latest results.

mod compare;
mod encode;
mod measure;
mod queries;
mod replay;
mod report;
mod run;
mod systems;
mod workload;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Duration;

use report::{Disagreement, Outcome, Report, SystemReport};
use run::{Cycle, CycleOptions};
use systems::prometheus::Prometheus;
use systems::tidemark::Tidemark;
use systems::victoria::VictoriaMetrics;
use systems::System;
use workload::Preset;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Benchmark Tidemark against VictoriaMetrics and Prometheus on one workload"
)]
struct Cli {
    /// Workload size.
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    /// Seed of the workload; the same seed gives the same series and values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Measured cycles per system; figures are medians over them.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Concurrent remote-write connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Timed runs of each query (after one untimed warm-up run).
    #[arg(long)]
    query_repeats: Option<usize>,
    /// Systems to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["tidemark".to_string(), "victoria-metrics".to_string(), "prometheus".to_string()])]
    systems: Vec<String>,
    #[arg(long, default_value = "target/release/tidemark")]
    tidemark_bin: PathBuf,
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    victoria_metrics_bin: PathBuf,
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Where data directories and server logs go (default: a new temporary directory,
    /// removed at the end unless --keep-data).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long)]
    keep_data: bool,
    /// Unix ms of the first scrape round (default: so that the data ends ~10 minutes ago).
    #[arg(long)]
    start_ms: Option<i64>,
    /// Also write the markdown report here; in a file with `<!-- results:begin -->` and
    /// `<!-- results:end -->` markers only the part between them is replaced.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("tidemark-bench: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    if cli.repeat == 0 || cli.concurrency == 0 {
        bail!("--repeat and --concurrency must be at least 1");
    }
    let fleet = cli.preset.fleet(cli.seed);
    let start_ms = cli
        .start_ms
        .unwrap_or_else(|| default_start_ms(fleet.rounds as i64 * fleet.interval_ms));
    let query_repeats =
        cli.query_repeats
            .unwrap_or(if cli.preset == Preset::Smoke { 3 } else { 5 });

    let mut candidates: Vec<Box<dyn System>> = Vec::new();
    for name in &cli.systems {
        match name.as_str() {
            "tidemark" => candidates.push(Box::new(Tidemark {
                binary: cli.tidemark_bin.clone(),
            })),
            "victoria-metrics" | "victoriametrics" | "vm" => {
                candidates.push(Box::new(VictoriaMetrics {
                    binary: cli.victoria_metrics_bin.clone(),
                }))
            }
            "prometheus" | "prom" => candidates.push(Box::new(Prometheus {
                binary: cli.prometheus_bin.clone(),
            })),
            other => {
                bail!("unknown system {other:?}; known: tidemark, victoria-metrics, prometheus")
            }
        }
    }
    let peers_present = candidates
        .iter()
        .any(|s| s.name() != "Tidemark" && s.binary().exists());
    if !peers_present {
        eprintln!("note: no peers (VictoriaMetrics, Prometheus) installed or selected; measuring Tidemark alone");
    }

    eprintln!(
        "generating the {} workload (seed {})...",
        cli.preset.name(),
        cli.seed
    );
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workload = workload::generate(&fleet, start_ms, threads)?;
    let w = &workload.stats;
    eprintln!(
        "workload: {} samples, {} stale markers, {} series (max {} active), {} requests, {:.1} MiB",
        w.samples,
        w.stale_markers,
        w.series,
        w.max_active_series,
        w.requests,
        w.encoded_bytes as f64 / 1048576.0
    );

    let (work_dir, _temp) = match &cli.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = std::env::temp_dir().join(format!("tidemark-bench-{}", std::process::id()));
            std::fs::create_dir_all(&t)?;
            (t.clone(), (!cli.keep_data).then_some(RemoveOnDrop(t)))
        }
    };
    let opts = CycleOptions {
        concurrency: cli.concurrency,
        query_repeats,
        ready_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(120),
    };

    let mut reports = Vec::new();
    let mut first_cycles: Vec<(&'static str, Cycle)> = Vec::new();
    for system in &candidates {
        let version = version_of(system.as_ref());
        if !system.binary().exists() {
            let reason = match system.name() {
                "Tidemark" => format!(
                    "binary not found at {} (build it with `cargo build --release -p tidemark`)",
                    system.binary().display()
                ),
                _ => format!("not installed ({} not found)", system.binary().display()),
            };
            eprintln!("{}: {reason}", system.name());
            reports.push(SystemReport {
                name: system.name(),
                version,
                outcome: Outcome::Skipped { reason },
            });
            continue;
        }
        let mut cycles = Vec::new();
        let mut failure = None;
        for r in 0..cli.repeat {
            eprintln!("{}: cycle {}/{}...", system.name(), r + 1, cli.repeat);
            let tag = format!("{}-r{r}", system.name().to_lowercase());
            match run::run_cycle(system.as_ref(), &workload, &opts, &work_dir, &tag) {
                Ok(cycle) => {
                    eprintln!(
                        "{}: {} samples in {:.2} s, {:.2} CPU s, restart {:.2} s",
                        system.name(),
                        cycle.figures.samples_sent,
                        cycle.figures.replay_seconds,
                        cycle.figures.ingest_cpu_seconds,
                        cycle.figures.restart_seconds
                    );
                    if r == 0 {
                        first_cycles.push((
                            system.name(),
                            Cycle {
                                figures: cycle.figures.clone(),
                                results: cycle.results,
                            },
                        ));
                    }
                    cycles.push(cycle.figures);
                }
                Err(e) => {
                    eprintln!("{}: FAILED: {e:#}", system.name());
                    failure = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        let outcome = match failure {
            Some(reason) => Outcome::Failed { reason },
            None => {
                let summary = report::summarize(&cycles, workload.stats.samples);
                Outcome::Ran { cycles, summary }
            }
        };
        reports.push(SystemReport {
            name: system.name(),
            version,
            outcome,
        });
    }

    let report = Report {
        preset: cli.preset.name().to_string(),
        seed: cli.seed,
        repeats: cli.repeat,
        concurrency: cli.concurrency,
        command: command_line(),
        machine: machine_description(),
        date_utc: chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
        workload: workload.stats.clone(),
        notes: sample_count_notes(&reports, workload.stats.samples),
        disagreements: cross_check(&first_cycles),
        systems: reports,
    };
    let markdown = report.to_markdown();
    println!("{markdown}");
    if let Some(path) = &cli.output {
        write_markdown(path, &markdown)?;
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report
        .systems
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Ran { .. }))
    {
        bail!("no system completed a cycle");
    }
    Ok(())
}

/// Removes the default work directory when the run ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Data that ends ~10 minutes before now, on a whole minute: recent enough for every
/// system's retention, old enough that no system treats it as "in flight".
fn default_start_ms(span_ms: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - span_ms - 10 * 60_000) / 60_000 * 60_000
}

/// Compares every system's results with Prometheus (the PromQL reference), or with
/// VictoriaMetrics when Prometheus did not run.
fn cross_check(cycles: &[(&'static str, Cycle)]) -> Vec<Disagreement> {
    let reference = cycles
        .iter()
        .find(|(n, _)| *n == "Prometheus")
        .or_else(|| cycles.iter().find(|(n, _)| *n == "VictoriaMetrics"));
    let Some((ref_name, ref_cycle)) = reference else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, cycle) in cycles.iter().filter(|(n, _)| n != ref_name) {
        for (mine, theirs) in cycle.results.iter().zip(&ref_cycle.results) {
            if let Some(d) = compare::diff(&theirs.result, &mine.result) {
                let vm_involved = *name == "VictoriaMetrics" || *ref_name == "VictoriaMetrics";
                out.push(Disagreement {
                    query: mine.name.to_string(),
                    system: name.to_string(),
                    reference: ref_name.to_string(),
                    detail: d.to_string(),
                    known_cause: vm_involved
                        .then(|| queries::known_metricsql_difference(&mine.text))
                        .flatten()
                        .map(str::to_string),
                });
            }
        }
    }
    out
}

/// Flags any system whose stored sample count differs from what was sent.
fn sample_count_notes(reports: &[SystemReport], expected: u64) -> Vec<String> {
    let mut notes = vec![format!(
        "\"Samples readable\" is `sum(count_over_time({{__name__=\"<name>\",job=\"node\"}}[span]))` summed over every metric name after the restart; the workload holds {expected} real samples."
    )];
    for r in reports {
        if let Outcome::Ran { summary, .. } = &r.outcome {
            if summary.samples_readable != expected as f64 {
                notes.push(format!(
                    "{} returned {} readable samples, expected {expected}.",
                    r.name, summary.samples_readable
                ));
            }
        }
    }
    notes
}

fn write_markdown(path: &Path, markdown: &str) -> Result<()> {
    const BEGIN: &str = "<!-- results:begin -->";
    const END: &str = "<!-- results:end -->";
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if b < e => format!(
            "{}{BEGIN}\n\n{markdown}\n{}",
            &existing[..b],
            &existing[e..]
        ),
        _ => markdown.to_string(),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p tidemark-bench -- {}",
        args.join(" ")
    )
}

fn version_of(system: &dyn System) -> String {
    let flag = if system.name() == "VictoriaMetrics" {
        "-version"
    } else {
        "--version"
    };
    let output = std::process::Command::new(system.binary())
        .arg(flag)
        .output();
    let printed = output.ok().and_then(|o| {
        let text = if o.stdout.is_empty() {
            o.stderr
        } else {
            o.stdout
        };
        String::from_utf8_lossy(&text)
            .lines()
            .next()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
    });
    printed
        .or_else(|| debian_package_version(system.binary()))
        .unwrap_or_else(|| "unknown version".into())
}

/// Debian's victoria-metrics build prints no version; ask dpkg which package owns it.
fn debian_package_version(binary: &Path) -> Option<String> {
    let run = |args: &[&str]| -> Option<String> {
        let o = std::process::Command::new("dpkg-query")
            .args(args)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let owner = run(&["-S", binary.to_str()?])?;
    let package = owner.split(':').next()?.trim().to_string();
    let version = run(&["-W", "-f=${Version}", &package])?;
    Some(format!("Debian package {package} {version}"))
}

fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| kib / 1048576.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cpus} CPUs, {mem_gib:.1} GiB RAM, Linux {}",
        kernel.trim()
    )
}
