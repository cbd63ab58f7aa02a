//! The fleet plan: which hosts exist when, their size, and when they reboot.
//!
//! A fleet has a fixed number of slots. A churned slot's host leaves part-way through
//! and a new host (new instance name, fresh counters) takes the slot after a short gap,
//! as when a machine is replaced. Everything is drawn from the seed, so a plan is
//! reproducible.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Sizing and behaviour knobs of a workload; see `Preset` for the standard sets.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    pub hosts: usize,
    /// Scrape rounds; one sample per series per round.
    pub rounds: usize,
    pub interval_ms: i64,
    /// Share of slots whose host is replaced during the run.
    pub churn_fraction: f64,
    /// Share of hosts that reboot (counter reset) during their life.
    pub reboot_fraction: f64,
    pub seed: u64,
}

/// One host from its first to its last scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLife {
    pub slot: usize,
    /// 0 for the original host of a slot, 1 for its replacement.
    pub generation: usize,
    pub first_round: usize,
    /// Exclusive; when below the fleet's rounds, a stale marker round follows.
    pub end_round: usize,
    pub reboot_round: Option<usize>,
    pub cpus: usize,
    /// Fraction of CPU time not idle.
    pub busy: f64,
    /// Scrape phase within the interval, as Prometheus spreads targets.
    pub offset_ms: i64,
    pub cluster: usize,
    /// Seed of this host's value generator.
    pub seed: u64,
}

impl HostLife {
    pub fn instance(&self) -> String {
        match self.generation {
            0 => format!(
                "node-{:05}.c{:02}.example.net:9100",
                self.slot, self.cluster
            ),
            g => format!(
                "node-{:05}-r{g}.c{:02}.example.net:9100",
                self.slot, self.cluster
            ),
        }
    }
}

/// Typical server sizes; per-CPU series make hosts differ in series count.
const CPU_CHOICES: [usize; 4] = [16, 32, 48, 64];
/// Hosts per cluster label value.
const HOSTS_PER_CLUSTER: usize = 40;
/// Longest pause between a host leaving and its replacement's first scrape.
const MAX_REPLACEMENT_GAP_ROUNDS: usize = 20;

/// Mixes the run seed with a stream number so that each slot has its own generator.
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Lays out every host life of the run.
pub fn plan(config: &FleetConfig) -> Vec<HostLife> {
    let mut plan_rng = StdRng::seed_from_u64(sub_seed(config.seed, u64::MAX));
    let mut order: Vec<usize> = (0..config.hosts).collect();
    order.shuffle(&mut plan_rng);
    let churned = share(config.hosts, config.churn_fraction);
    let mut is_churned = vec![false; config.hosts];
    for &slot in &order[..churned] {
        is_churned[slot] = true;
    }

    let clusters = config.hosts.div_ceil(HOSTS_PER_CLUSTER).max(1);
    let mut lives = Vec::new();
    for slot in 0..config.hosts {
        let mut rng = StdRng::seed_from_u64(sub_seed(config.seed, slot as u64));
        let cluster = slot % clusters;
        let offset_ms = rng.random_range(0..config.interval_ms.max(1));
        let mut spans = vec![(0, config.rounds)];
        if is_churned[slot] && config.rounds >= 10 {
            let cut = rng.random_range(config.rounds / 10..config.rounds * 9 / 10);
            let back = cut + rng.random_range(1..=MAX_REPLACEMENT_GAP_ROUNDS);
            spans = vec![(0, cut)];
            if back < config.rounds {
                spans.push((back, config.rounds));
            }
        }
        for (generation, (first_round, end_round)) in spans.into_iter().enumerate() {
            lives.push(HostLife {
                slot,
                generation,
                first_round,
                end_round,
                reboot_round: None,
                cpus: CPU_CHOICES[rng.random_range(0..CPU_CHOICES.len())],
                busy: rng.random_range(0.03..0.7),
                offset_ms,
                cluster,
                seed: rng.random(),
            });
        }
    }

    let mut candidates: Vec<usize> = (0..lives.len())
        .filter(|&i| lives[i].end_round - lives[i].first_round >= 4)
        .collect();
    candidates.shuffle(&mut plan_rng);
    let reboots = share(lives.len(), config.reboot_fraction).min(candidates.len());
    for &i in &candidates[..reboots] {
        let life = &mut lives[i];
        life.reboot_round = Some(plan_rng.random_range(life.first_round + 2..life.end_round - 1));
    }
    lives
}

/// `fraction` of `n`, rounded up so that a small fleet still sees at least one event.
fn share(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        return 0;
    }
    ((n as f64 * fraction).ceil() as usize).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> FleetConfig {
        FleetConfig {
            hosts: 30,
            rounds: 100,
            interval_ms: 15_000,
            churn_fraction: 0.1,
            reboot_fraction: 0.1,
            seed,
        }
    }

    #[test]
    fn plan_is_deterministic_and_seed_dependent() {
        assert_eq!(plan(&config(7)), plan(&config(7)));
        assert_ne!(plan(&config(7)), plan(&config(8)));
    }

    #[test]
    fn churn_and_reboots_happen_within_bounds() {
        let lives = plan(&config(1));
        let replaced: Vec<_> = lives.iter().filter(|l| l.generation == 1).collect();
        let left_early = lives
            .iter()
            .filter(|l| l.generation == 0 && l.end_round < 100)
            .count();
        assert_eq!(left_early, 3, "ceil(30 * 0.1) slots churn");
        assert!(!replaced.is_empty());
        for l in &lives {
            assert!(l.first_round < l.end_round && l.end_round <= 100);
            if let Some(r) = l.reboot_round {
                assert!(r > l.first_round && r < l.end_round);
            }
        }
        assert_eq!(
            lives.iter().filter(|l| l.reboot_round.is_some()).count(),
            (lives.len() as f64 * 0.1).ceil() as usize
        );
        let instances: std::collections::HashSet<_> =
            lives.iter().map(HostLife::instance).collect();
        assert_eq!(
            instances.len(),
            lives.len(),
            "every life has its own instance name"
        );
    }
}
