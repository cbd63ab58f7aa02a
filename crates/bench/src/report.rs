//! Aggregates cycles into medians and renders the markdown report (and a JSON twin
//! that tests and scripts can check).

use serde::Serialize;
use std::fmt::Write as _;

use crate::compare::RELATIVE_TOLERANCE;
use crate::run::CycleFigures;
use crate::workload::WorkloadStats;

/// What happened to one system in this run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ran {
        cycles: Vec<CycleFigures>,
        summary: Summary,
    },
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    pub name: &'static str,
    pub version: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Medians over the repeated cycles of one system.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub samples_sent: f64,
    pub samples_readable: f64,
    pub samples_per_second: f64,
    pub cpu_seconds_per_million_samples: f64,
    pub peak_rss_bytes: f64,
    pub steady_rss_bytes: f64,
    pub data_bytes_per_sample: f64,
    pub index_bytes_per_sample: Option<f64>,
    pub data_dir_bytes_at_stop: f64,
    pub restart_seconds: f64,
    pub restart_peak_rss_bytes: f64,
    /// Sum over the query set of each query's median: one dashboard refresh.
    pub queries_total_median_ms: f64,
    pub queries_total_p90_ms: f64,
    /// Per query: (name, median ms, p90 ms), each the median over cycles.
    pub queries: Vec<(String, f64, f64)>,
}

/// One cross-check finding.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub query: String,
    pub system: String,
    pub reference: String,
    pub detail: String,
    /// Set when the difference is a documented semantic difference of that system.
    pub known_cause: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub preset: String,
    pub seed: u64,
    pub repeats: usize,
    pub concurrency: usize,
    pub command: String,
    pub machine: String,
    pub date_utc: String,
    pub workload: WorkloadStats,
    pub systems: Vec<SystemReport>,
    pub disagreements: Vec<Disagreement>,
    pub notes: Vec<String>,
}

/// The middle value, or the mean of the two middle values for an even count.
fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Medians over cycles; `samples` is the workload's real-sample count (the
/// denominator of every per-sample figure).
pub fn summarize(cycles: &[CycleFigures], samples: u64) -> Summary {
    let m = |f: &dyn Fn(&CycleFigures) -> f64| median(cycles.iter().map(f));
    let per_sample = samples.max(1) as f64;
    let names: Vec<&str> = cycles
        .first()
        .map(|c| c.queries.iter().map(|q| q.name).collect())
        .unwrap_or_default();
    let queries: Vec<(String, f64, f64)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                name.to_string(),
                m(&|c| c.queries[i].median_ms),
                m(&|c| c.queries[i].p90_ms),
            )
        })
        .collect();
    Summary {
        samples_sent: m(&|c| c.samples_sent as f64),
        samples_readable: m(&|c| c.samples_readable),
        samples_per_second: m(&|c| c.samples_sent as f64 / c.replay_seconds.max(1e-9)),
        cpu_seconds_per_million_samples: m(&|c| {
            c.ingest_cpu_seconds / c.samples_sent.max(1) as f64 * 1e6
        }),
        peak_rss_bytes: m(&|c| c.peak_rss_bytes as f64),
        steady_rss_bytes: m(&|c| c.steady_rss_bytes as f64),
        data_bytes_per_sample: m(&|c| c.disk_data_bytes as f64) / per_sample,
        index_bytes_per_sample: cycles
            .iter()
            .all(|c| c.disk_index_bytes.is_some())
            .then(|| m(&|c| c.disk_index_bytes.unwrap_or(0) as f64) / per_sample),
        data_dir_bytes_at_stop: m(&|c| c.data_dir_bytes_at_stop as f64),
        restart_seconds: m(&|c| c.restart_seconds),
        restart_peak_rss_bytes: m(&|c| c.restart_peak_rss_bytes as f64),
        queries_total_median_ms: queries.iter().map(|q| q.1).sum(),
        queries_total_p90_ms: queries.iter().map(|q| q.2).sum(),
        queries,
    }
}

/// A figure's row: label, how to read a summary, how to print it, and whether lower is better.
struct Row {
    label: &'static str,
    value: fn(&Summary) -> Option<f64>,
    format: fn(f64) -> String,
}

fn mib(v: f64) -> String {
    format!("{:.1} MiB", v / (1024.0 * 1024.0))
}
fn count(v: f64) -> String {
    format!("{v:.0}")
}
fn fixed2(v: f64) -> String {
    format!("{v:.2}")
}
fn fixed3(v: f64) -> String {
    format!("{v:.3}")
}
/// A query latency in ms with about three significant digits: sub-millisecond
/// panels differ in the second and third decimal.
fn latency(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}
fn secs(v: f64) -> String {
    format!("{v:.2} s")
}

const ROWS: &[Row] = &[
    Row {
        label: "Samples acknowledged (incl. stale markers)",
        value: |s| Some(s.samples_sent),
        format: count,
    },
    Row {
        label: "Samples readable after restart",
        value: |s| Some(s.samples_readable),
        format: count,
    },
    Row {
        label: "Ingest rate (samples/s, higher is better)",
        value: |s| Some(s.samples_per_second),
        format: count,
    },
    Row {
        label: "Ingest CPU (s per 1M samples)",
        value: |s| Some(s.cpu_seconds_per_million_samples),
        format: fixed2,
    },
    Row {
        label: "Peak RSS (ingest, merge, queries)",
        value: |s| Some(s.peak_rss_bytes),
        format: mib,
    },
    Row {
        label: "Steady RSS after merge",
        value: |s| Some(s.steady_rss_bytes),
        format: mib,
    },
    Row {
        label: "Disk: data bytes/sample after merge",
        value: |s| Some(s.data_bytes_per_sample),
        format: fixed3,
    },
    Row {
        label: "Disk: index bytes/sample after merge",
        value: |s| s.index_bytes_per_sample,
        format: fixed3,
    },
    Row {
        label: "Data directory at stop",
        value: |s| Some(s.data_dir_bytes_at_stop),
        format: mib,
    },
    Row {
        label: "Restart to ready",
        value: |s| Some(s.restart_seconds),
        format: secs,
    },
    Row {
        label: "Peak RSS during restart",
        value: |s| Some(s.restart_peak_rss_bytes),
        format: mib,
    },
    Row {
        label: "Queries: sum of medians",
        value: |s| Some(s.queries_total_median_ms),
        format: ms,
    },
    Row {
        label: "Queries: sum of p90s",
        value: |s| Some(s.queries_total_p90_ms),
        format: ms,
    },
];

const TIDEMARK: &str = "Tidemark";
const VICTORIA: &str = "VictoriaMetrics";
const PROMETHEUS: &str = "Prometheus";
const ORDER: [&str; 3] = [TIDEMARK, VICTORIA, PROMETHEUS];

impl Report {
    fn summary(&self, name: &str) -> Option<&Summary> {
        self.systems
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| match &s.outcome {
                Outcome::Ran { summary, .. } => Some(summary),
                _ => None,
            })
    }

    fn status_cell(&self, name: &str) -> String {
        match self
            .systems
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.outcome)
        {
            Some(Outcome::Ran { .. }) => String::new(),
            Some(Outcome::Failed { .. }) => "failed (see below)".into(),
            Some(Outcome::Skipped { .. }) => "not run (see below)".into(),
            None => "not selected".into(),
        }
    }

    /// The markdown report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let w = &self.workload;
        let _ = writeln!(
            out,
            "## Results: preset `{}`, seed {}, median of {} run(s)\n",
            self.preset, self.seed, self.repeats
        );
        let _ = writeln!(out, "Date (UTC): {}  ", self.date_utc);
        let _ = writeln!(out, "Machine: {}  ", self.machine);
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        let span_min = (w.last_timestamp_ms - w.first_timestamp_ms) as f64 / 60_000.0;
        let _ = writeln!(
            out,
            "Workload: {} host slots ({} host lives with churn), {} samples + {} stale markers, {} series \
             (max {} active), {:.0} min at 15 s, {} remote-write requests ({:.1} MiB encoded), {} concurrent senders.\n",
            w.hosts,
            w.host_lives,
            w.samples,
            w.stale_markers,
            w.series,
            w.max_active_series,
            span_min,
            w.requests,
            w.encoded_bytes as f64 / 1048576.0,
            self.concurrency
        );
        let _ = writeln!(out, "| Figure | Tidemark | VictoriaMetrics | Prometheus | Tidemark ÷ VictoriaMetrics | Tidemark ÷ Prometheus | VictoriaMetrics ÷ Prometheus |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for row in ROWS {
            let values: Vec<Option<f64>> = ORDER
                .iter()
                .map(|n| self.summary(n).and_then(row.value))
                .collect();
            let cells: Vec<String> = ORDER
                .iter()
                .zip(&values)
                .map(|(n, v)| match v {
                    Some(v) => (row.format)(*v),
                    None if self.summary(n).is_some() => "n/a".into(),
                    None => self.status_cell(n),
                })
                .collect();
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
                _ => "–".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                cells[0],
                cells[1],
                cells[2],
                ratio(values[0], values[1]),
                ratio(values[0], values[2]),
                ratio(values[1], values[2])
            );
        }

        let ran: Vec<&str> = ORDER
            .iter()
            .copied()
            .filter(|n| self.summary(n).is_some())
            .collect();
        if !ran.is_empty() {
            let _ = writeln!(
                out,
                "\n### Query latency (ms, median / p90 of the timed runs)\n"
            );
            // Tidemark's median over each peer's, per query: what the latency targets
            // are stated in.
            let peers: Vec<&str> = if ran.first() == Some(&TIDEMARK) {
                ran[1..].to_vec()
            } else {
                Vec::new()
            };
            let ratio_heads: String = peers.iter().map(|p| format!(" Tidemark ÷ {p} |")).collect();
            let _ = writeln!(out, "| Query | {} |{ratio_heads}", ran.join(" | "));
            let _ = writeln!(out, "|---|{}", "---:|".repeat(ran.len() + peers.len()));
            let first = self.summary(ran[0]).expect("ran");
            for (i, (name, _, _)) in first.queries.iter().enumerate() {
                let median = |n: &str| self.summary(n).expect("ran").queries[i].1;
                let cells: Vec<String> = ran
                    .iter()
                    .map(|n| {
                        let q = &self.summary(n).expect("ran").queries[i];
                        format!("{} / {}", latency(q.1), latency(q.2))
                    })
                    .collect();
                let ratios: String = peers
                    .iter()
                    .map(|p| match median(p) {
                        peer if peer > 0.0 => format!(" {:.2}× |", median(TIDEMARK) / peer),
                        _ => " – |".to_string(),
                    })
                    .collect();
                let _ = writeln!(out, "| `{name}` | {} |{ratios}", cells.join(" | "));
            }
        }

        let _ = writeln!(
            out,
            "\n### Result cross-check (relative tolerance {RELATIVE_TOLERANCE:e})\n"
        );
        if ran.len() < 2 {
            let _ = writeln!(out, "Only one system ran; nothing to cross-check.");
        } else if self.disagreements.is_empty() {
            let _ = writeln!(out, "All query results agree between the systems that ran.");
        } else {
            for d in &self.disagreements {
                let cause = d
                    .known_cause
                    .as_deref()
                    .map(|c| format!(" — expected: {c}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- `{}`: {} vs {}: {}{cause}",
                    d.query, d.system, d.reference, d.detail
                );
            }
        }

        let _ = writeln!(out, "\n### Systems and notes\n");
        for s in &self.systems {
            match &s.outcome {
                Outcome::Ran { cycles, .. } => {
                    let c = &cycles[0];
                    let _ = writeln!(
                        out,
                        "- {} ({}): flush/merge: {}; disk: {}.",
                        s.name, s.version, c.flush_note, c.disk_note
                    );
                    for changed in &c.changed_by_restart {
                        let _ = writeln!(out, "  - result changed across restart: {changed}");
                    }
                }
                Outcome::Failed { reason } => {
                    let _ = writeln!(
                        out,
                        "- {} ({}): FAILED: {}",
                        s.name,
                        s.version,
                        one_line(reason)
                    );
                }
                Outcome::Skipped { reason } => {
                    let _ = writeln!(out, "- {}: not run: {}", s.name, reason);
                }
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(600).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::QueryLatency;

    fn cycle(samples: u64, cpu: f64) -> CycleFigures {
        CycleFigures {
            samples_sent: samples,
            samples_readable: samples as f64,
            replay_seconds: 2.0,
            ingest_cpu_seconds: cpu,
            flush_merge_seconds: 0.1,
            peak_rss_bytes: 100 << 20,
            steady_rss_bytes: 50 << 20,
            disk_data_bytes: samples,
            disk_index_bytes: Some(samples / 2),
            disk_note: "d".into(),
            data_dir_bytes_at_stop: 1 << 20,
            first_start_seconds: 0.5,
            restart_seconds: 1.0,
            restart_peak_rss_bytes: 30 << 20,
            shutdown_seconds: 0.1,
            flush_note: "f".into(),
            queries: vec![QueryLatency {
                name: "q",
                median_ms: cpu,
                p90_ms: cpu * 2.0,
            }],
            changed_by_restart: vec![],
        }
    }

    #[test]
    fn summary_takes_medians_and_ratios_render() {
        let s = summarize(
            &[cycle(1000, 1.0), cycle(1000, 3.0), cycle(1000, 2.0)],
            1000,
        );
        assert_eq!(s.cpu_seconds_per_million_samples, 2000.0);
        assert_eq!(s.data_bytes_per_sample, 1.0);
        assert_eq!(s.index_bytes_per_sample, Some(0.5));
        assert_eq!(s.queries_total_median_ms, 2.0);
        let report = Report {
            preset: "smoke".into(),
            seed: 1,
            repeats: 3,
            concurrency: 2,
            command: "x".into(),
            machine: "m".into(),
            date_utc: "d".into(),
            workload: WorkloadStats::default(),
            systems: vec![
                SystemReport {
                    name: "Tidemark",
                    version: "v".into(),
                    outcome: Outcome::Failed {
                        reason: "boom\nline".into(),
                    },
                },
                SystemReport {
                    name: "VictoriaMetrics",
                    version: "v".into(),
                    outcome: Outcome::Ran {
                        cycles: vec![cycle(1000, 2.0)],
                        summary: s.clone(),
                    },
                },
                SystemReport {
                    name: "Prometheus",
                    version: "v".into(),
                    outcome: Outcome::Ran {
                        cycles: vec![cycle(1000, 4.0)],
                        summary: summarize(&[cycle(1000, 4.0)], 1000),
                    },
                },
            ],
            disagreements: vec![],
            notes: vec![],
        };
        let md = report.to_markdown();
        assert!(md.contains("| Ingest CPU (s per 1M samples) | failed (see below) | 2000.00 | 4000.00 | – | – | 0.50× |"), "{md}");
        assert!(md.contains("Tidemark (v): FAILED: boom line"), "{md}");
        assert!(md.contains("| `q` | 2.00 / 4.00 | 4.00 / 8.00 |"), "{md}");
        let mut all_ran = report.clone();
        all_ran.systems[0].outcome = Outcome::Ran {
            cycles: vec![cycle(1000, 1.0)],
            summary: summarize(&[cycle(1000, 1.0)], 1000),
        };
        let md = all_ran.to_markdown();
        assert!(
            md.contains("| Query | Tidemark | VictoriaMetrics | Prometheus | Tidemark ÷ VictoriaMetrics | Tidemark ÷ Prometheus |"),
            "{md}"
        );
        assert!(
            md.contains("| `q` | 1.00 / 2.00 | 2.00 / 4.00 | 4.00 / 8.00 | 0.50× | 0.25× |"),
            "{md}"
        );
        assert_eq!(latency(12.345), "12.3");
        assert_eq!(latency(1.2345), "1.23");
        assert_eq!(latency(0.12345), "0.123");
    }
}
