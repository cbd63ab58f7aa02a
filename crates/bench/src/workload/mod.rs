//! The deterministic node_exporter-fleet workload, pre-encoded into remote-write requests.
//!
//! Every request is one host's scrape at one timestamp (~600-1,250 samples), the unit a
//! Prometheus agent forwards. Requests are ordered by scrape round, so every system
//! receives data roughly in time order, as from a live fleet.

pub mod fleet;
pub mod host;
pub mod template;

use anyhow::Result;
use clap::ValueEnum;

use crate::encode::encode_request;
use fleet::{FleetConfig, HostLife};
use host::Host;
use template::Template;

/// Standard workload sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// A few hosts for a few minutes: checks the tool works (CI), not performance.
    Smoke,
    /// About 5M samples.
    Small,
    /// About 50M samples.
    Medium,
    /// At least 1M active series and 500M samples; run by hand on a big machine.
    Large,
}

impl Preset {
    pub fn fleet(self, seed: u64) -> FleetConfig {
        let (hosts, rounds) = match self {
            Preset::Smoke => (4, 40),
            Preset::Small => (44, 120),
            Preset::Medium => (220, 240),
            Preset::Large => (1_150, 480),
        };
        FleetConfig {
            hosts,
            rounds,
            interval_ms: 15_000,
            churn_fraction: 0.1,
            reboot_fraction: 0.05,
            seed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Smoke => "smoke",
            Preset::Small => "small",
            Preset::Medium => "medium",
            Preset::Large => "large",
        }
    }
}

/// One pre-encoded remote-write request (protobuf, snappy-compressed).
pub struct Request {
    pub round: usize,
    pub slot: usize,
    /// Shared so that each send hands the HTTP client a reference, not a copy.
    pub body: bytes::Bytes,
    /// Samples in the request, stale markers included.
    pub samples: usize,
    pub stale_markers: usize,
}

/// Totals of a generated workload.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WorkloadStats {
    pub hosts: usize,
    pub host_lives: usize,
    /// Real values, stale markers excluded.
    pub samples: u64,
    pub stale_markers: u64,
    pub series: u64,
    /// Most series scraped in one round.
    pub max_active_series: u64,
    pub requests: u64,
    pub encoded_bytes: u64,
    pub first_timestamp_ms: i64,
    pub last_timestamp_ms: i64,
}

/// The whole workload, ready to replay.
pub struct Workload {
    pub fleet: FleetConfig,
    pub lives: Vec<HostLife>,
    pub requests: Vec<Request>,
    pub stats: WorkloadStats,
}

/// Generates and encodes the workload on `threads` threads; the result depends only on
/// `fleet`, `start_ms` and the template.
pub fn generate(fleet: &FleetConfig, start_ms: i64, threads: usize) -> Result<Workload> {
    let template = Template::builtin()?;
    let lives = fleet::plan(fleet);
    let threads = threads.clamp(1, lives.len().max(1));
    let per_thread: Vec<Result<(Vec<Request>, Vec<(usize, usize)>)>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<&HostLife> = lives.iter().skip(t).step_by(threads).collect();
                    let template = &template;
                    scope.spawn(move || -> Result<(Vec<Request>, Vec<(usize, usize)>)> {
                        let mut requests = Vec::new();
                        let mut series_per_life = Vec::new();
                        for life in mine {
                            series_per_life.push((
                                life.slot,
                                encode_life(life, template, fleet, start_ms, &mut requests),
                            ));
                        }
                        Ok((requests, series_per_life))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("workload thread panicked"))
                .collect()
        });

    let mut requests = Vec::new();
    let mut stats = WorkloadStats {
        hosts: fleet.hosts,
        host_lives: lives.len(),
        ..Default::default()
    };
    for part in per_thread {
        let (r, series) = part?;
        stats.series += series.iter().map(|(_, n)| *n as u64).sum::<u64>();
        requests.extend(r);
    }
    requests.sort_by_key(|r| (r.round, r.slot));
    let mut per_round = vec![0u64; fleet.rounds + 1];
    for r in &requests {
        stats.samples += (r.samples - r.stale_markers) as u64;
        stats.stale_markers += r.stale_markers as u64;
        stats.encoded_bytes += r.body.len() as u64;
        if r.stale_markers == 0 {
            per_round[r.round] += r.samples as u64;
        }
    }
    stats.requests = requests.len() as u64;
    stats.max_active_series = per_round.into_iter().max().unwrap_or(0);
    stats.first_timestamp_ms = start_ms;
    stats.last_timestamp_ms = start_ms + fleet.rounds as i64 * fleet.interval_ms;
    Ok(Workload {
        fleet: fleet.clone(),
        lives,
        requests,
        stats,
    })
}

/// Encodes every scrape of one host life (plus its stale markers); returns its series count.
fn encode_life(
    life: &HostLife,
    template: &Template,
    fleet: &FleetConfig,
    start_ms: i64,
    out: &mut Vec<Request>,
) -> usize {
    let mut host = Host::new(life, template, fleet.interval_ms, start_ms);
    let timestamp = |round: usize| start_ms + round as i64 * fleet.interval_ms + life.offset_ms;
    for round in life.first_round..life.end_round {
        let series = host.scrape(round, timestamp(round));
        let body = encode_request(series);
        out.push(Request {
            round,
            slot: life.slot,
            body: body.into(),
            samples: series.len(),
            stale_markers: 0,
        });
    }
    if life.end_round < fleet.rounds {
        let series = host.stale_markers(timestamp(life.end_round));
        let body = encode_request(series);
        out.push(Request {
            round: life.end_round,
            slot: life.slot,
            body: body.into(),
            samples: series.len(),
            stale_markers: series.len(),
        });
    }
    host.series_count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_workload_is_deterministic_and_counted() {
        let fleet = Preset::Smoke.fleet(42);
        let a = generate(&fleet, 1_700_000_000_000, 2).unwrap();
        let b = generate(&fleet, 1_700_000_000_000, 1).unwrap();
        assert_eq!(
            a.stats, b.stats,
            "thread count must not change the workload"
        );
        assert!(a
            .requests
            .iter()
            .zip(&b.requests)
            .all(|(x, y)| x.body == y.body));
        assert!(a.stats.samples > 10_000);
        assert!(a.stats.stale_markers > 0, "smoke churns at least one host");
        let sent: u64 = a.requests.iter().map(|r| r.samples as u64).sum();
        assert_eq!(sent, a.stats.samples + a.stats.stale_markers);
        assert!(
            a.requests.windows(2).all(|w| w[0].round <= w[1].round),
            "time order"
        );
        let other_seed = generate(&Preset::Smoke.fleet(43), 1_700_000_000_000, 2).unwrap();
        assert_ne!(a.stats.samples, other_seed.stats.samples);
    }

    #[test]
    fn presets_hit_their_sizes() {
        // Average host: ~940 series; checked against the plan without generating values.
        let template = Template::builtin().unwrap();
        let per_cpu = template
            .series
            .iter()
            .filter(|s| s.labels.iter().any(|(n, _)| n == "cpu"))
            .count();
        let fixed = template.series.len() - per_cpu + 5;
        let estimate = |p: Preset| {
            let fleet = p.fleet(1);
            let lives = fleet::plan(&fleet);
            let samples: usize = lives
                .iter()
                .map(|l| (l.end_round - l.first_round) * (fixed + per_cpu * l.cpus))
                .sum();
            let active = fleet.hosts * (fixed + per_cpu * 16);
            (samples, active)
        };
        let (small, _) = estimate(Preset::Small);
        assert!((4_000_000..6_500_000).contains(&small), "small {small}");
        let (medium, _) = estimate(Preset::Medium);
        assert!(
            (40_000_000..65_000_000).contains(&medium),
            "medium {medium}"
        );
        let (large, _) = estimate(Preset::Large);
        assert!(large >= 500_000_000, "large {large}");
    }
}
