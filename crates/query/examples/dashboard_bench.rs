//! Times the benchmark's dashboard queries (crates/bench/src/queries.rs) as range
//! queries over a synthetic in-memory fleet shaped like the bench's medium preset:
//! 220 hosts with 16-64 CPUs, 15 s scrapes over one hour, ~120 steps.
//!
//! `cargo run --release -p tidemark-query --example dashboard_bench [-- ROUNDS [FILTER]]`
//! prints the median evaluation time of each query (selection included: the
//! in-memory source copies samples out like a storage engine would).

use std::collections::HashMap;
use std::time::Instant;

use tidemark_model::{Labels, Matcher, Sample};
use tidemark_query::{Engine, QueryError, Queryable, SelectedSeries};

const HOSTS: usize = 220;
const HOSTS_PER_CLUSTER: usize = 40;
const CPU_CHOICES: [usize; 4] = [16, 32, 48, 64];
const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const INTERVAL_MS: i64 = 15_000;
const ROUNDS: i64 = 240;
const START_MS: i64 = 1_700_000_000_000;

const QUERIES: &[(&str, &str)] = &[
    (
        "cpu_busy_per_host",
        r#"100 * (1 - avg by(instance)(rate(node_cpu_seconds_total{mode="idle"}[5m])))"#,
    ),
    (
        "cpu_modes_one_host",
        r#"sum by(mode)(irate(node_cpu_seconds_total{instance="{host}"}[5m]))"#,
    ),
    (
        "sys_load_one_host",
        r#"scalar(node_load1{instance="{host}"}) * 100 / count(count(node_cpu_seconds_total{instance="{host}"}) by (cpu))"#,
    ),
    (
        "ram_used_per_host",
        r#"100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"#,
    ),
    (
        "root_fs_used_per_host",
        r#"100 - (node_filesystem_avail_bytes{mountpoint="/",fstype!="rootfs"} * 100 / node_filesystem_size_bytes{mountpoint="/",fstype!="rootfs"})"#,
    ),
    (
        "uptime_one_host",
        r#"node_time_seconds{instance="{host}"} - node_boot_time_seconds{instance="{host}"}"#,
    ),
    (
        "net_rx_bits_one_host",
        r#"rate(node_network_receive_bytes_total{instance="{host}"}[5m]) * 8"#,
    ),
    (
        "disk_io_per_host",
        r#"sum by(instance)(rate(node_disk_read_bytes_total[5m]) + rate(node_disk_written_bytes_total[5m]))"#,
    ),
    (
        "net_tx_per_cluster",
        r#"sum by(cluster)(rate(node_network_transmit_bytes_total{device!="lo"}[5m]))"#,
    ),
    (
        "context_switches_fleet",
        r#"sum(irate(node_context_switches_total[5m]))"#,
    ),
    (
        "mem_available_per_cluster",
        r#"avg by(cluster)(node_memory_MemAvailable_bytes)"#,
    ),
    ("hosts_up_per_cluster", r#"sum by(cluster)(up)"#),
    (
        "load_max_30m_per_cluster",
        r#"max by(cluster)(max_over_time(node_load1[30m]))"#,
    ),
];

/// An in-memory series store indexed by metric name.
struct Fleet {
    by_name: HashMap<String, Vec<SelectedSeries>>,
}

impl Fleet {
    fn generate() -> Fleet {
        let mut by_name: HashMap<String, Vec<SelectedSeries>> = HashMap::new();
        let mut add =
            |name: &str, host: usize, extra: &[(&str, String)], gen: &dyn Fn(i64) -> f64| {
                let mut pairs: Vec<(String, String)> = vec![
                    ("__name__".into(), name.into()),
                    ("instance".into(), instance(host)),
                    ("job".into(), "node".into()),
                    (
                        "cluster".into(),
                        format!("cluster-{}", host / HOSTS_PER_CLUSTER),
                    ),
                ];
                pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
                let floats = (0..ROUNDS)
                    .map(|r| Sample {
                        timestamp: START_MS + r * INTERVAL_MS + (host as i64 * 37) % 1000,
                        value: gen(r),
                    })
                    .collect();
                by_name
                    .entry(name.into())
                    .or_default()
                    .push(SelectedSeries {
                        labels: Labels::from_pairs(pairs).into(),
                        floats,
                        ..SelectedSeries::default()
                    });
            };
        for host in 0..HOSTS {
            let cpus = CPU_CHOICES[host % CPU_CHOICES.len()];
            let h = host as f64;
            for cpu in 0..cpus {
                for (m, mode) in MODES.iter().enumerate() {
                    let speed = 0.05 + (m as f64 + h % 7.0) / 20.0;
                    add(
                        "node_cpu_seconds_total",
                        host,
                        &[("cpu", cpu.to_string()), ("mode", mode.to_string())],
                        &move |r| 1000.0 + r as f64 * 15.0 * speed,
                    );
                }
            }
            let total = 64e9 + h * 1e9;
            add("node_memory_MemTotal_bytes", host, &[], &move |_| total);
            add("node_memory_MemAvailable_bytes", host, &[], &move |r| {
                total * (0.3 + (r % 17) as f64 / 100.0)
            });
            for (mount, fstype) in [
                ("/", "ext4"),
                ("/boot", "ext4"),
                ("/run", "tmpfs"),
                ("/", "rootfs"),
            ] {
                let extra = [
                    ("mountpoint", mount.to_string()),
                    ("fstype", fstype.to_string()),
                    ("device", "sda1".to_string()),
                ];
                add("node_filesystem_size_bytes", host, &extra, &move |_| 500e9);
                add("node_filesystem_avail_bytes", host, &extra, &move |r| {
                    200e9 - r as f64 * 1e6
                });
            }
            for dev in ["sda", "sdb", "nvme0n1", "dm-0"] {
                let extra = [("device", dev.to_string())];
                add("node_disk_read_bytes_total", host, &extra, &move |r| {
                    r as f64 * 4096.0 * 3.0
                });
                add("node_disk_written_bytes_total", host, &extra, &move |r| {
                    r as f64 * 4096.0 * 7.0
                });
            }
            for dev in ["eth0", "eth1", "lo", "docker0"] {
                let extra = [("device", dev.to_string())];
                add(
                    "node_network_receive_bytes_total",
                    host,
                    &extra,
                    &move |r| r as f64 * 1.5e6,
                );
                add(
                    "node_network_transmit_bytes_total",
                    host,
                    &extra,
                    &move |r| r as f64 * 0.7e6,
                );
            }
            add("node_context_switches_total", host, &[], &move |r| {
                r as f64 * 15.0 * 4000.0
            });
            add("node_load1", host, &[], &move |r| (r % 13) as f64 / 3.0);
            add("up", host, &[], &|_| 1.0);
            add("node_time_seconds", host, &[], &|r| {
                (START_MS / 1000 + r * 15) as f64
            });
            add("node_boot_time_seconds", host, &[], &|_| {
                (START_MS / 1000 - 86_400) as f64
            });
        }
        Fleet { by_name }
    }
}

fn instance(host: usize) -> String {
    format!("host-{host:03}:9100")
}

impl Queryable for Fleet {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        let name = matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map(|m| m.value.as_str())
            .unwrap_or("");
        let Some(all) = self.by_name.get(name) else {
            return Ok(Vec::new());
        };
        Ok(all
            .iter()
            .filter(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|s| {
                let lo = s.floats.partition_point(|x| x.timestamp < start_ms);
                let hi = s.floats.partition_point(|x| x.timestamp <= end_ms);
                SelectedSeries {
                    labels: s.labels.clone(),
                    floats: s.floats[lo..hi].to_vec(),
                    ..SelectedSeries::default()
                }
            })
            .collect())
    }
}

/// CPU time consumed so far by all of this process' threads, in ms (Linux
/// schedstat; 0 elsewhere). Less noisy than wall time on a loaded machine.
fn cpu_ms() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let filter = args.next();
    let fleet = Fleet::generate();
    let engine = Engine::default();
    let step_ms = 30_000;
    let end_ms = (START_MS + (ROUNDS - 1) * INTERVAL_MS) / step_ms * step_ms;
    let start_ms = end_ms - 119 * step_ms;
    for (name, text) in QUERIES {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let text = text.replace("{host}", &instance(17));
        let mut times = Vec::with_capacity(rounds);
        let mut series = 0;
        let cpu_before = cpu_ms();
        for _ in 0..rounds {
            let t0 = Instant::now();
            let result = engine
                .range_query(&fleet, &text, start_ms, end_ms, step_ms)
                .expect("query failed");
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            if let tidemark_query::Value::Matrix(m) = result.value {
                series = m.len();
            }
        }
        let cpu_per_run = (cpu_ms() - cpu_before) / rounds as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<28} median {:>8.2} ms  min {:>8.2} ms  cpu/run {:>8.2} ms  ({series} series)",
            times[times.len() / 2],
            times[0],
            cpu_per_run
        );
    }
}
