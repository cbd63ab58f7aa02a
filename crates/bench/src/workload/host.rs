//! Value generation for one host life: what its node_exporter would report each scrape.
//!
//! Counters grow at rates derived from the captured scrape (value / uptime) scaled to
//! the host's size, with per-scrape noise, and reset on reboot. Gauges follow a
//! mean-reverting random walk around their captured level; flags, sizes and info
//! series stay constant. Values are rounded to the precision the exporter printed,
//! because precision drives how well every system compresses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tidemark_model::{Labels, Sample, TimeSeries, STALE_NAN};

use super::fleet::HostLife;
use super::template::{Kind, Template, TemplateSeries};

/// Relative per-scrape noise on counter increments.
const COUNTER_NOISE: f64 = 0.25;
/// Relative per-scrape step of gauge random walks, and pull back towards the level.
const GAUGE_STEP: f64 = 0.01;
const GAUGE_PULL: f64 = 0.1;
/// The capture host had 2 CPUs; sizes and rates scale with `cpus / REFERENCE_CPUS`.
const REFERENCE_CPUS: f64 = 8.0;

/// Gauges that do not move while a host is up.
const CONSTANT_GAUGES: &[&str] = &[
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_CommitLimit_bytes",
    "node_memory_Hugepagesize_bytes",
    "node_memory_DirectMap1G_bytes",
    "node_memory_DirectMap2M_bytes",
    "node_memory_DirectMap4k_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filefd_maximum",
    "node_entropy_pool_size_bits",
    "node_nf_conntrack_entries_limit",
    "node_time_zone_offset_seconds",
    "process_max_fds",
    "process_virtual_memory_max_bytes",
];

#[derive(Debug, Clone, Copy)]
enum Model {
    Constant,
    /// Mean-reverting walk around `level`.
    Walk {
        level: f64,
    },
    /// Grows at `rate` per second.
    Counter {
        rate: f64,
    },
    /// Unix seconds of the scrape minus `lag` seconds (node_time_seconds, last GC time).
    WallClock {
        lag: f64,
    },
    /// Unix seconds of the last boot; moves only on reboot.
    BootTime,
    /// Prometheus' `scrape_series_added`: all series on the first scrape, then 0.
    SeriesAdded,
}

struct SeriesState {
    model: Model,
    value: f64,
    decimals: u8,
}

/// All series of one host life, with their current values.
pub struct Host {
    life: HostLife,
    rng: StdRng,
    interval_ms: i64,
    states: Vec<SeriesState>,
    /// One single-sample series per state; samples are overwritten each scrape so
    /// label sets are built once per life.
    series: Vec<TimeSeries>,
}

impl Host {
    pub fn new(life: &HostLife, template: &Template, interval_ms: i64, start_ms: i64) -> Host {
        let mut rng = StdRng::seed_from_u64(life.seed);
        let first_scrape_s =
            (start_ms + life.first_round as i64 * interval_ms + life.offset_ms) as f64 / 1000.0;
        let uptime_s = rng.random_range(3_600.0..60.0 * 86_400.0);
        let boot_s = (first_scrape_s - uptime_s).floor();
        let scale = life.cpus as f64 / REFERENCE_CPUS;
        let instance = life.instance();
        let cluster = format!("c{:02}", life.cluster);
        let host_name = instance.split(':').next().unwrap_or(&instance).to_string();

        let mut states = Vec::new();
        let mut series = Vec::new();
        let mut push = |labels: Labels,
                        model: Model,
                        value: f64,
                        decimals: u8,
                        series: &mut Vec<TimeSeries>| {
            states.push(SeriesState {
                model,
                value,
                decimals,
            });
            series.push(TimeSeries::new(labels, vec![Sample::new(0, 0.0)]));
        };
        let target = [
            ("job", "node"),
            ("instance", instance.as_str()),
            ("cluster", cluster.as_str()),
        ];
        let non_idle_total: f64 = template
            .series
            .iter()
            .filter(|s| s.name == "node_cpu_seconds_total" && label(s, "mode") != Some("idle"))
            .map(|s| s.value)
            .sum();

        for t in &template.series {
            let cpus: Vec<Option<usize>> = if label(t, "cpu").is_some() {
                (0..life.cpus).map(Some).collect()
            } else {
                vec![None]
            };
            for cpu in cpus {
                let cpu_text = cpu.map(|c| c.to_string());
                let mut pairs: Vec<(&str, &str)> = vec![("__name__", t.name.as_str())];
                for (n, v) in &t.labels {
                    let v = match (n.as_str(), &cpu_text) {
                        ("cpu", Some(c)) => c.as_str(),
                        ("nodename", _) => host_name.as_str(),
                        _ => v.as_str(),
                    };
                    pairs.push((n.as_str(), v));
                }
                pairs.extend(target);
                let labels = Labels::from_pairs(pairs);
                let (model, value) = if t.name == "node_cpu_seconds_total" {
                    let rate =
                        cpu_mode_rate(t, life.busy * rng.random_range(0.8..1.2), non_idle_total);
                    (Model::Counter { rate }, rate * uptime_s)
                } else {
                    initial_model(
                        t,
                        template,
                        scale,
                        uptime_s,
                        boot_s,
                        first_scrape_s,
                        &mut rng,
                    )
                };
                push(
                    labels,
                    model,
                    value,
                    if t.name == "node_cpu_seconds_total" {
                        2
                    } else {
                        t.decimals
                    },
                    &mut series,
                );
            }
        }

        // The series Prometheus adds per target and sends along with the scrape.
        let scraped = series.len() as f64;
        let synthetic: [(&str, Model, f64, u8); 5] = [
            ("up", Model::Constant, 1.0, 0),
            (
                "scrape_duration_seconds",
                Model::Walk {
                    level: rng.random_range(0.01..0.08),
                },
                0.03,
                9,
            ),
            ("scrape_samples_scraped", Model::Constant, scraped, 0),
            (
                "scrape_samples_post_metric_relabeling",
                Model::Constant,
                scraped,
                0,
            ),
            ("scrape_series_added", Model::SeriesAdded, scraped, 0),
        ];
        for (name, model, value, decimals) in synthetic {
            let mut pairs = vec![("__name__", name)];
            pairs.extend(target);
            push(
                Labels::from_pairs(pairs),
                model,
                value,
                decimals,
                &mut series,
            );
        }

        Host {
            life: life.clone(),
            rng,
            interval_ms,
            states,
            series,
        }
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The scrape of `round` (advancing every value), timestamped `timestamp_ms`.
    pub fn scrape(&mut self, round: usize, timestamp_ms: i64) -> &[TimeSeries] {
        let now_s = timestamp_ms as f64 / 1000.0;
        let dt_s = self.interval_ms as f64 / 1000.0;
        let first = round == self.life.first_round;
        let reboot = self.life.reboot_round == Some(round);
        for (state, ts) in self.states.iter_mut().zip(&mut self.series) {
            if !first {
                step(state, &mut self.rng, dt_s, now_s, reboot);
            }
            let value = match state.model {
                Model::WallClock { lag } => now_s - lag,
                Model::SeriesAdded if !first => 0.0,
                _ => state.value,
            };
            let shown = match state.model {
                Model::Counter { .. } => floor_to(value, state.decimals),
                _ => round_to(value, state.decimals),
            };
            ts.samples[0] = Sample::new(timestamp_ms, shown);
        }
        &self.series
    }

    /// Stale markers for every series, sent when the host disappears.
    pub fn stale_markers(&mut self, timestamp_ms: i64) -> &[TimeSeries] {
        for ts in &mut self.series {
            ts.samples[0] = Sample::new(timestamp_ms, STALE_NAN);
        }
        &self.series
    }
}

fn label<'a>(t: &'a TemplateSeries, name: &str) -> Option<&'a str> {
    t.labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Per-second rate of one CPU mode: idle gets `1 - busy`, the other modes share
/// `busy` in the proportions of the capture.
fn cpu_mode_rate(t: &TemplateSeries, busy: f64, non_idle_total: f64) -> f64 {
    let busy = busy.clamp(0.0, 0.98);
    if label(t, "mode") == Some("idle") {
        1.0 - busy
    } else if non_idle_total > 0.0 {
        busy * t.value / non_idle_total
    } else {
        0.0
    }
}

fn initial_model(
    t: &TemplateSeries,
    template: &Template,
    scale: f64,
    uptime_s: f64,
    boot_s: f64,
    first_scrape_s: f64,
    rng: &mut StdRng,
) -> (Model, f64) {
    let sized = |v: f64| {
        if t.name.contains("_bytes") {
            v * scale
        } else {
            v
        }
    };
    match t.name.as_str() {
        "node_boot_time_seconds" => return (Model::BootTime, boot_s),
        "process_start_time_seconds" => {
            return (Model::BootTime, boot_s + rng.random_range(20.0..90.0))
        }
        "node_time_seconds" => {
            return (
                Model::WallClock {
                    lag: rng.random_range(0.0..0.01),
                },
                first_scrape_s,
            )
        }
        "go_memstats_last_gc_time_seconds" => {
            return (
                Model::WallClock {
                    lag: rng.random_range(1.0..120.0),
                },
                first_scrape_s,
            )
        }
        _ => {}
    }
    match t.kind {
        Kind::Counter if t.value > 0.0 => {
            let rate = t.value / template.uptime_seconds * scale * rng.random_range(0.5..2.0);
            (Model::Counter { rate }, rate * uptime_s)
        }
        Kind::Counter => (Model::Constant, 0.0),
        Kind::Gauge => {
            let constant = t.value == 0.0
                || t.value == 1.0
                || t.name.ends_with("_info")
                || t.name.starts_with("node_network_")
                || CONSTANT_GAUGES.contains(&t.name.as_str());
            if constant {
                (Model::Constant, sized(t.value))
            } else {
                let level = sized(t.value) * rng.random_range(0.7..1.0);
                (Model::Walk { level }, level)
            }
        }
    }
}

/// Advances one series by one scrape interval.
fn step(state: &mut SeriesState, rng: &mut StdRng, dt_s: f64, now_s: f64, reboot: bool) {
    match state.model {
        Model::Counter { rate } => {
            if reboot {
                state.value = rate * rng.random_range(0.0..dt_s);
            } else {
                state.value += rate * dt_s * (1.0 + COUNTER_NOISE * rng.random_range(-1.0..1.0));
            }
        }
        Model::Walk { level } => {
            let noise = rng.random_range(-1.0..1.0) * 3f64.sqrt();
            let next =
                state.value + GAUGE_PULL * (level - state.value) + level * GAUGE_STEP * noise;
            state.value = next.max(0.0);
        }
        Model::BootTime if reboot => state.value = (now_s - rng.random_range(5.0..dt_s)).floor(),
        Model::Constant | Model::WallClock { .. } | Model::BootTime | Model::SeriesAdded => {}
    }
}

fn round_to(v: f64, decimals: u8) -> f64 {
    let p = 10f64.powi(decimals as i32);
    (v * p).round() / p
}

fn floor_to(v: f64, decimals: u8) -> f64 {
    let p = 10f64.powi(decimals as i32);
    (v * p).floor() / p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fleet::HostLife;

    fn life(reboot_round: Option<usize>) -> HostLife {
        HostLife {
            slot: 3,
            generation: 0,
            first_round: 0,
            end_round: 40,
            reboot_round,
            cpus: 16,
            busy: 0.3,
            offset_ms: 1234,
            cluster: 0,
            seed: 99,
        }
    }

    fn value_of(series: &[TimeSeries], name: &str, extra: Option<(&str, &str)>) -> f64 {
        series
            .iter()
            .find(|s| {
                s.labels.metric_name() == Some(name)
                    && extra.is_none_or(|(n, v)| s.labels.get(n) == Some(v))
            })
            .unwrap_or_else(|| panic!("no {name}"))
            .samples[0]
            .value
    }

    #[test]
    fn host_expands_cpus_and_adds_target_labels() {
        let template = Template::builtin().unwrap();
        let host = Host::new(&life(None), &template, 15_000, 1_700_000_000_000);
        let per_cpu = template
            .series
            .iter()
            .filter(|s| label(s, "cpu").is_some())
            .count();
        assert_eq!(
            host.series_count(),
            template.series.len() - per_cpu + per_cpu * 16 + 5
        );
        let cpu15 = host
            .series
            .iter()
            .filter(|s| s.labels.get("cpu") == Some("15"))
            .count();
        assert_eq!(cpu15, per_cpu);
        for s in &host.series {
            assert_eq!(s.labels.get("job"), Some("node"));
            assert_eq!(
                s.labels.get("instance"),
                Some("node-00003.c00.example.net:9100")
            );
        }
    }

    #[test]
    fn counters_rise_with_precision_and_reset_on_reboot() {
        let template = Template::builtin().unwrap();
        let mut host = Host::new(&life(Some(10)), &template, 15_000, 1_700_000_000_000);
        let idle = Some(("mode", "idle"));
        let mut last_idle = f64::MIN;
        let mut last_boot = 0.0;
        for round in 0..10 {
            let s = host.scrape(round, 1_700_000_000_000 + round as i64 * 15_000);
            let v = value_of(s, "node_cpu_seconds_total", idle);
            assert!(v >= last_idle, "monotonic before reboot");
            assert_eq!(round_to(v, 2), v, "2-decimal precision");
            if round > 0 {
                let per_second = (v - last_idle) / 15.0;
                assert!(
                    per_second > 0.0 && per_second < 1.3,
                    "idle rate {per_second}"
                );
            }
            last_idle = v;
            last_boot = value_of(s, "node_boot_time_seconds", None);
        }
        let s = host.scrape(10, 1_700_000_150_000);
        assert!(
            value_of(s, "node_cpu_seconds_total", idle) < last_idle,
            "counter reset"
        );
        assert!(
            value_of(s, "node_boot_time_seconds", None) > last_boot,
            "boot time moves"
        );
        assert_eq!(value_of(s, "scrape_series_added", None), 0.0);
        assert_eq!(value_of(s, "up", None), 1.0);
    }

    #[test]
    fn stale_markers_cover_every_series() {
        let template = Template::builtin().unwrap();
        let mut host = Host::new(&life(None), &template, 15_000, 0);
        let n = host.series_count();
        let s = host.stale_markers(42);
        assert_eq!(s.len(), n);
        assert!(s
            .iter()
            .all(|t| t.samples[0].timestamp == 42
                && tidemark_model::is_stale_nan(t.samples[0].value)));
    }
}
