//! Times the stages of dashboard range queries on an existing data directory:
//! storage select, PromQL evaluation and JSON rendering, separately.
//!
//! `cargo run --release -p tidemark-server --example query_stages -- <data-dir> <start_s> <end_s> <step_s> <host> [iterations [name-filter]]`
//!
//! Open a copy of the directory: opening replays the WAL and may write to it.
//! `SELECT_DETAIL=1` also prints every select (matchers, range, series, time).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidemark_model::{Matcher, Tenant};
use tidemark_query::{Engine, EngineOptions, QueryError, Queryable, SelectedSeries};
use tidemark_server::api::promjson::query_response;
use tidemark_storage::{Storage, StorageOptions};

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
    ("hosts_up_per_cluster", r#"sum by(cluster)(up)"#),
    (
        "mem_available_per_cluster",
        r#"avg by(cluster)(node_memory_MemAvailable_bytes)"#,
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
        "load_max_30m_per_cluster",
        r#"max by(cluster)(max_over_time(node_load1[30m]))"#,
    ),
];

/// Storage as the engine sees it, adding up the time spent in selects.
struct TimedStorage<'a> {
    storage: &'a Storage,
    spent: Mutex<Duration>,
}

impl Queryable for TimedStorage<'_> {
    fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        let t = Instant::now();
        let out = self
            .storage
            .select_with_histograms(Tenant::DEFAULT, matchers, start, end)
            .map_err(|e| QueryError::Internal(e.to_string()))?
            .into_iter()
            .map(|s| SelectedSeries {
                labels: s.labels,
                floats: s.floats,
                histograms: s.histograms,
                ..SelectedSeries::default()
            })
            .collect::<Vec<SelectedSeries>>();
        *self.spent.lock().unwrap() += t.elapsed();
        if std::env::var_os("SELECT_DETAIL").is_some() {
            eprintln!(
                "  select {matchers:?} [{start}, {end}]: {} series in {:?}",
                out.len(),
                t.elapsed()
            );
        }
        Ok(out)
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: query_stages <data-dir> <start_s> <end_s> <step_s> <host> [iterations [name-filter]]");
        std::process::exit(2);
    }
    let num = |i: usize| args[i].parse::<i64>().expect("a number");
    let (start, end, step) = (num(2) * 1000, num(3) * 1000, num(4) * 1000);
    let host = &args[5];
    let iterations = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(20usize);
    let filter = args.get(7).map(String::as_str).unwrap_or("");
    let storage = Storage::open(StorageOptions {
        path: PathBuf::from(&args[1]),
        ..StorageOptions::default()
    })
    .expect("open storage");
    let engine = Engine::new(EngineOptions::default());
    println!("query                       select ms   eval ms  render ms  total ms  (medians of {iterations})");
    for (name, text) in QUERIES.iter().filter(|(name, _)| name.contains(filter)) {
        let text = text.replace("{host}", host);
        let (mut sel, mut eval, mut render) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..iterations + 1 {
            let q = TimedStorage {
                storage: &storage,
                spent: Mutex::new(Duration::ZERO),
            };
            let t = Instant::now();
            let result = engine
                .range_query(&q, &text, start, end, step)
                .expect("query");
            let evaluated = t.elapsed();
            let t = Instant::now();
            let body = query_response(&result.value, &result.warnings, &result.infos);
            render.push(t.elapsed());
            std::hint::black_box(body);
            let spent = *q.spent.lock().unwrap();
            sel.push(spent);
            eval.push(evaluated - spent);
        }
        let (s, e, r) = (median(sel), median(eval), median(render));
        println!("{name:<26} {s:>9.2} {e:>9.2} {r:>10.2} {:>9.2}", s + e + r);
    }
}
