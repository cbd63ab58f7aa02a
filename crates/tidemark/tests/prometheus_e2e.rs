//! End to end against real Prometheus: Debian's `prometheus` (2.42) scrapes a real
//! `prometheus-node-exporter` and remote-writes to tidemark for ~30 s. Then `promtool`
//! queries and the HTTP API (series, labels, label values, query, query_range) must
//! give the same answers from tidemark as from that Prometheus.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{client, free_port, now_ms, peer_binary, Peer, Tidemark};
use serde_json::Value as Json;

const RUN_FOR: Duration = Duration::from_secs(30);
const REL_TOLERANCE: f64 = 1e-9;

fn start_peers(tm: &Tidemark, dir: &std::path::Path) -> Option<(Peer, Peer)> {
    let prometheus = peer_binary("prometheus")?;
    let exporter = peer_binary("prometheus-node-exporter")?;
    peer_binary("promtool")?;
    let ne_port = free_port();
    let mut ne_cmd = Command::new(exporter);
    ne_cmd.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let mut ne = Peer::spawn(
        "node_exporter",
        ne_cmd,
        ne_port,
        &dir.join("node_exporter.log"),
    );
    ne.wait_http_ok("/metrics", Duration::from_secs(30));

    let config = format!(
        r#"global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{ne_port}"]
remote_write:
  - url: "{}"
    queue_config:
      batch_send_deadline: 1s
"#,
        tm.url("/api/v1/write")
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let p_port = free_port();
    let mut p_cmd = Command::new(prometheus);
    p_cmd
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{p_port}"));
    let mut prom = Peer::spawn("prometheus", p_cmd, p_port, &dir.join("prometheus.log"));
    prom.wait_http_ok("/-/ready", Duration::from_secs(60));
    Some((ne, prom))
}

fn promtool(args: &[&str]) -> Vec<String> {
    let out = Command::new("promtool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn get(url: &str) -> Json {
    let resp = client().get(url).send().unwrap();
    let status = resp.status();
    let text = resp.text().unwrap();
    assert!(status.is_success(), "{url}: {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// `{labels → [(t, v)]}` from an instant or range result.
fn points(result: &Json) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out = BTreeMap::new();
    for r in result.as_array().unwrap() {
        let pairs: Vec<&Json> = match r.get("values") {
            Some(v) => v.as_array().unwrap().iter().collect(),
            None => vec![&r["value"]],
        };
        let pts = pairs
            .iter()
            .map(|p| {
                (
                    p[0].as_f64().unwrap(),
                    p[1].as_str().unwrap().parse::<f64>().unwrap(),
                )
            })
            .collect();
        out.insert(r["metric"].to_string(), pts);
    }
    out
}

fn assert_close(
    what: &str,
    a: &BTreeMap<String, Vec<(f64, f64)>>,
    b: &BTreeMap<String, Vec<(f64, f64)>>,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: different series"
    );
    assert!(!a.is_empty(), "{what}: no data");
    for (k, pa) in a {
        let pb = &b[k];
        assert_eq!(pa.len(), pb.len(), "{what} {k}: point counts differ");
        for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
            assert_eq!(ta, tb, "{what} {k}");
            let same = va == vb
                || (va.is_nan() && vb.is_nan())
                || (va - vb).abs() <= REL_TOLERANCE * va.abs().max(vb.abs());
            assert!(same, "{what} {k} at {ta}: tidemark {va} vs prometheus {vb}");
        }
    }
}

#[test]
fn prometheus_remote_write_and_query_parity() {
    let dir = tempfile::tempdir().unwrap();
    let tm = Tidemark::start(&[]);
    let Some((_ne, prom)) = start_peers(&tm, dir.path()) else {
        return;
    };
    std::thread::sleep(RUN_FOR);

    // Everything up to 10 s ago has been remote-written (batch deadline 1 s).
    let t_ms = now_ms() - 10_000;
    let t = format!("{:.3}", t_ms as f64 / 1000.0);
    let start = format!("{:.3}", (t_ms - 20_000) as f64 / 1000.0);
    let (tm_url, prom_url) = (tm.url(""), prom.url(""));

    for expr in [
        "up",
        "node_cpu_seconds_total{mode=\"idle\"}",
        "node_memory_MemTotal_bytes",
    ] {
        let a = promtool(&["query", "instant", "--time", &t, &tm_url, expr]);
        let b = promtool(&["query", "instant", "--time", &t, &prom_url, expr]);
        assert!(!b.is_empty(), "prometheus has no {expr}");
        assert_eq!(a, b, "promtool query instant {expr}");
        let a = promtool(&[
            "query", "range", "--start", &start, "--end", &t, "--step", "5s", &tm_url, expr,
        ]);
        let b = promtool(&[
            "query", "range", "--start", &start, "--end", &t, "--step", "5s", &prom_url, expr,
        ]);
        assert_eq!(a, b, "promtool query range {expr}");
    }

    for path in [
        "/api/v1/series?match[]=up".to_string(),
        "/api/v1/series?match[]=node_load1".to_string(),
        "/api/v1/labels?match[]={job=\"node\"}".to_string(),
        "/api/v1/label/job/values".to_string(),
        "/api/v1/label/mode/values?match[]=node_cpu_seconds_total".to_string(),
    ] {
        let mut a = get(&tm.url(&path))["data"].clone();
        let mut b = get(&prom.url(&path))["data"].clone();
        for v in [&mut a, &mut b] {
            if let Some(arr) = v.as_array_mut() {
                arr.sort_by_key(|x| x.to_string());
            }
        }
        assert_eq!(a, b, "{path}");
    }

    for expr in [
        "up",
        "sum by (mode) (node_cpu_seconds_total)",
        "node_load1 * 2",
        "count(node_network_receive_bytes_total)",
    ] {
        let q = format!("/api/v1/query?query={}&time={t}", urlencode(expr));
        assert_close(
            expr,
            &points(&get(&tm.url(&q))["data"]["result"]),
            &points(&get(&prom.url(&q))["data"]["result"]),
        );
        let q = format!(
            "/api/v1/query_range?query={}&start={start}&end={t}&step=2",
            urlencode(expr)
        );
        assert_close(
            expr,
            &points(&get(&tm.url(&q))["data"]["result"]),
            &points(&get(&prom.url(&q))["data"]["result"]),
        );
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
