//! The dashboard queries: panels of Grafana's "Node Exporter Full" (dashboard 1860)
//! for one host, and fleet-wide aggregations, each run as `query_range` over the data.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::systems::{Server, System};

/// One query of the set. `{host}` in the text is replaced by a host's instance.
pub struct QueryDef {
    pub name: &'static str,
    pub text: &'static str,
}

/// rate() and irate() in MetricsQL do not extrapolate to the window edges and use the
/// sample before the window, so VictoriaMetrics returns slightly different values
/// than PromQL for these queries by design.
pub fn known_metricsql_difference(text: &str) -> Option<&'static str> {
    text.contains("rate(")
        .then_some("MetricsQL rate()/irate() differ from PromQL by design (no extrapolation; the sample before the window is used)")
}

pub const QUERIES: &[QueryDef] = &[
    QueryDef {
        name: "cpu_busy_per_host",
        text: r#"100 * (1 - avg by(instance)(rate(node_cpu_seconds_total{mode="idle"}[5m])))"#,
    },
    QueryDef {
        name: "cpu_modes_one_host",
        text: r#"sum by(mode)(irate(node_cpu_seconds_total{instance="{host}"}[5m]))"#,
    },
    QueryDef {
        name: "sys_load_one_host",
        text: r#"scalar(node_load1{instance="{host}"}) * 100 / count(count(node_cpu_seconds_total{instance="{host}"}) by (cpu))"#,
    },
    QueryDef {
        name: "ram_used_per_host",
        text: r#"100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"#,
    },
    QueryDef {
        name: "root_fs_used_per_host",
        text: r#"100 - (node_filesystem_avail_bytes{mountpoint="/",fstype!="rootfs"} * 100 / node_filesystem_size_bytes{mountpoint="/",fstype!="rootfs"})"#,
    },
    QueryDef {
        name: "uptime_one_host",
        text: r#"node_time_seconds{instance="{host}"} - node_boot_time_seconds{instance="{host}"}"#,
    },
    QueryDef {
        name: "net_rx_bits_one_host",
        text: r#"rate(node_network_receive_bytes_total{instance="{host}"}[5m]) * 8"#,
    },
    QueryDef {
        name: "disk_io_per_host",
        text: r#"sum by(instance)(rate(node_disk_read_bytes_total[5m]) + rate(node_disk_written_bytes_total[5m]))"#,
    },
    QueryDef {
        name: "net_tx_per_cluster",
        text: r#"sum by(cluster)(rate(node_network_transmit_bytes_total{device!="lo"}[5m]))"#,
    },
    QueryDef {
        name: "context_switches_fleet",
        text: r#"sum(irate(node_context_switches_total[5m]))"#,
    },
    QueryDef {
        name: "mem_available_per_cluster",
        text: r#"avg by(cluster)(node_memory_MemAvailable_bytes)"#,
    },
    QueryDef {
        name: "hosts_up_per_cluster",
        text: r#"sum by(cluster)(up)"#,
    },
    QueryDef {
        name: "load_max_30m_per_cluster",
        text: r#"max by(cluster)(max_over_time(node_load1[30m]))"#,
    },
];

/// The time range every query is evaluated over, in Unix ms, aligned to `step_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

impl Range {
    /// From 5 minutes after the first sample (so 5m windows are full) to the end,
    /// with about 120 steps that are multiples of the scrape interval.
    pub fn over(first_ms: i64, last_ms: i64, interval_ms: i64) -> Range {
        let from = first_ms + 5 * 60_000;
        let span = (last_ms - from).max(interval_ms);
        let step_ms = ((span / 120).max(interval_ms) + interval_ms - 1) / interval_ms * interval_ms;
        let start_ms = (from + step_ms - 1) / step_ms * step_ms;
        let end_ms = (last_ms / step_ms * step_ms).max(start_ms);
        Range {
            start_ms,
            end_ms,
            step_ms,
        }
    }
}

/// A matrix result: series (labels as sorted pairs) to points.
pub type Matrix = BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>;

/// Timings and results of one query on one system.
pub struct QueryRun {
    pub name: &'static str,
    pub text: String,
    pub latencies: Vec<Duration>,
    pub result: Matrix,
}

/// Runs every query once untimed (warm-up), then `repeats` timed times.
pub fn run_all(
    system: &dyn System,
    server: &Server,
    host: &str,
    range: Range,
    repeats: usize,
) -> Result<Vec<QueryRun>> {
    let mut runs = Vec::new();
    for q in QUERIES {
        let text = q.text.replace("{host}", host);
        let result = query_range(system, server, &text, range)
            .with_context(|| format!("query {}", q.name))?;
        let mut latencies = Vec::with_capacity(repeats);
        // The clock stops when the whole answer has arrived: parsing it is the
        // client's work, and would add the same few milliseconds to every system.
        for _ in 0..repeats {
            let t = Instant::now();
            fetch_range(system, server, &text, range)
                .with_context(|| format!("query {}", q.name))?;
            latencies.push(t.elapsed());
        }
        runs.push(QueryRun {
            name: q.name,
            text,
            latencies,
            result,
        });
    }
    Ok(runs)
}

/// `GET /api/v1/query_range`, parsed into a [`Matrix`].
pub fn query_range(
    system: &dyn System,
    server: &Server,
    text: &str,
    range: Range,
) -> Result<Matrix> {
    parse_matrix(&fetch_range(system, server, text, range)?)
}

/// `GET /api/v1/query_range`: the successful answer's body, unparsed.
fn fetch_range(system: &dyn System, server: &Server, text: &str, range: Range) -> Result<String> {
    let seconds = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let mut params = vec![
        ("query", text.to_string()),
        ("start", seconds(range.start_ms)),
        ("end", seconds(range.end_ms)),
        ("step", seconds(range.step_ms)),
    ];
    params.extend(system.query_args().iter().map(|(k, v)| (*k, v.to_string())));
    let url = server.url("/api/v1/query_range");
    let response = server
        .client()
        .get(&url)
        .query(&params)
        .send()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().context("reading query response")?;
    if !status.is_success() {
        bail!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok(body)
}

/// `GET /api/v1/query` returning a single scalar-like number (first series, first value).
pub fn query_number(system: &dyn System, server: &Server, text: &str, at_ms: i64) -> Result<f64> {
    let mut params = vec![
        ("query", text.to_string()),
        ("time", format!("{:.3}", at_ms as f64 / 1000.0)),
    ];
    params.extend(system.query_args().iter().map(|(k, v)| (*k, v.to_string())));
    let url = server.url("/api/v1/query");
    let body = server
        .client()
        .get(&url)
        .query(&params)
        .send()
        .with_context(|| format!("GET {url}"))?
        .text()?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("query reply is not JSON: {body:.200}"))?;
    if v["status"] != "success" {
        bail!("query {text:?} failed: {body:.300}");
    }
    let result = &v["data"]["result"];
    let value = match v["data"]["resultType"].as_str() {
        Some("vector") => result.get(0).map(|s| &s["value"]),
        Some("scalar") => Some(result),
        _ => None,
    };
    match value {
        Some(pair) => parse_value(&pair[1]),
        None => Ok(0.0),
    }
}

/// Every metric name the system knows (`/api/v1/label/__name__/values`).
pub fn metric_names(system: &dyn System, server: &Server) -> Result<Vec<String>> {
    let url = server.url("/api/v1/label/__name__/values");
    let params: Vec<(&str, &str)> = system.query_args().to_vec();
    let body = server
        .client()
        .get(&url)
        .query(&params)
        .send()
        .with_context(|| format!("GET {url}"))?
        .text()?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("label values reply is not JSON: {body:.200}"))?;
    let names = v["data"]
        .as_array()
        .ok_or_else(|| anyhow!("label values reply lacks data: {body:.300}"))?;
    Ok(names
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect())
}

fn parse_matrix(body: &str) -> Result<Matrix> {
    let v: serde_json::Value = serde_json::from_str(body).context("query reply is not JSON")?;
    if v["status"] != "success" {
        bail!(
            "query failed: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    if v["data"]["resultType"] != "matrix" {
        bail!("expected a matrix, got {}", v["data"]["resultType"]);
    }
    let mut matrix = Matrix::new();
    for series in v["data"]["result"]
        .as_array()
        .ok_or_else(|| anyhow!("data.result is not an array"))?
    {
        let mut labels: Vec<(String, String)> = series["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let mut points = Vec::new();
        for p in series["values"]
            .as_array()
            .ok_or_else(|| anyhow!("series without values"))?
        {
            let t = p[0]
                .as_f64()
                .ok_or_else(|| anyhow!("bad timestamp {}", p[0]))?;
            points.push(((t * 1000.0).round() as i64, parse_value(&p[1])?));
        }
        matrix.insert(labels, points);
    }
    Ok(matrix)
}

fn parse_value(v: &serde_json::Value) -> Result<f64> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow!("value {v} is not a string"))?;
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| anyhow!("bad sample value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_aligned_and_bounded() {
        let r = Range::over(1_700_000_003_000, 1_700_001_803_000, 15_000);
        assert_eq!(r.start_ms % r.step_ms, 0);
        assert_eq!(r.end_ms % r.step_ms, 0);
        assert_eq!(r.step_ms % 15_000, 0);
        assert!(r.start_ms >= 1_700_000_303_000 && r.end_ms <= 1_700_001_803_000);
        let steps = (r.end_ms - r.start_ms) / r.step_ms;
        assert!((60..=130).contains(&steps), "{steps}");
    }

    #[test]
    fn parses_matrix_replies() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"b":"2","a":"1"},"values":[[1700000000,"1.5"],[1700000015.5,"NaN"]]}]}}"#;
        let m = parse_matrix(body).unwrap();
        let (labels, points) = m.iter().next().unwrap();
        assert_eq!(labels[0], ("a".to_string(), "1".to_string()));
        assert_eq!(points[0], (1_700_000_000_000, 1.5));
        assert_eq!(points[1].0, 1_700_000_015_500);
        assert!(points[1].1.is_nan());
        assert!(parse_matrix(r#"{"status":"error","error":"x"}"#).is_err());
        assert!(
            parse_matrix(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
                .is_err()
        );
    }
}
