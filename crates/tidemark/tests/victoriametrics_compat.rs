//! VictoriaMetrics JSON-lines compatibility with a real `victoria-metrics` (Debian 1.79):
//! data exported by VictoriaMetrics imports into tidemark unchanged, and tidemark's
//! export imports back into VictoriaMetrics unchanged.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{client, free_port, now_ms, peer_binary, Peer, Tidemark};
use serde_json::Value as Json;

/// `{metric → [(t, v)]}` from a JSON-lines export; values compared by their text form.
fn parse_export(body: &str) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut out: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let j: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let metric: BTreeMap<String, String> = serde_json::from_value(j["metric"].clone()).unwrap();
        let key = format!("{metric:?}");
        let ts = j["timestamps"].as_array().unwrap();
        let vs = j["values"].as_array().unwrap();
        let entry = out.entry(key).or_default();
        for (t, v) in ts.iter().zip(vs) {
            entry.push((t.as_i64().unwrap(), v.as_f64().unwrap().to_string()));
        }
        entry.sort();
    }
    out
}

fn post_ok(url: &str, body: String) {
    let resp = client().post(url).body(body).send().unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "{url}: {status}: {}",
        resp.text().unwrap_or_default()
    );
}

fn export(url: &str) -> String {
    let resp = client().get(url).send().unwrap();
    assert!(resp.status().is_success(), "{url}");
    resp.text().unwrap()
}

#[test]
fn json_lines_move_between_victoriametrics_and_tidemark() {
    let Some(vm_bin) = peer_binary("victoria-metrics") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(vm_bin);
    cmd.arg(format!(
        "-storageDataPath={}",
        dir.path().join("vm").display()
    ))
    .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
    .arg("-retentionPeriod=1y");
    let mut vm = Peer::spawn("victoria-metrics", cmd, port, &dir.path().join("vm.log"));
    vm.wait_http_ok("/health", Duration::from_secs(30));

    let base = now_ms() - 3_600_000;
    let mut lines = String::new();
    for s in 0..20 {
        let ts: Vec<i64> = (0..30).map(|i| base + i * 15_000 + s).collect();
        let vs: Vec<String> = (0..30)
            .map(|i| format!("{}", (i * s) as f64 * 0.125 + 1e-3 * s as f64))
            .collect();
        lines.push_str(&format!(
            "{{\"metric\":{{\"__name__\":\"vmc_metric_{}\",\"instance\":\"host-{s}\",\"job\":\"vmc\"}},\"values\":[{}],\"timestamps\":[{}]}}\n",
            s % 3,
            vs.join(","),
            ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")
        ));
    }
    post_ok(&vm.url("/api/v1/import"), lines);
    let _ = client().get(vm.url("/internal/force_flush")).send();
    let selector = "match[]={job=\"vmc\"}";
    let from_vm = {
        // VictoriaMetrics makes fresh imports searchable within a few seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let body = export(&vm.url(&format!("/api/v1/export?{selector}")));
            if parse_export(&body).len() == 20 || std::time::Instant::now() > deadline {
                break body;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let vm_data = parse_export(&from_vm);
    assert_eq!(vm_data.len(), 20, "victoria-metrics export: {from_vm}");

    let tm = Tidemark::start(&[]);
    post_ok(&tm.url("/api/v1/import"), from_vm);
    let from_tm = export(&tm.url(&format!("/api/v1/export?{selector}")));
    assert_eq!(
        parse_export(&from_tm),
        vm_data,
        "VictoriaMetrics export → tidemark import → export changed the data"
    );

    // And back: a tidemark export imports into a fresh VictoriaMetrics tenant unchanged.
    let other_job = from_tm.replace("\"job\":\"vmc\"", "\"job\":\"vmc_back\"");
    post_ok(&vm.url("/api/v1/import"), other_job);
    let _ = client().get(vm.url("/internal/force_flush")).send();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let back = loop {
        let body = export(&vm.url("/api/v1/export?match[]={job=\"vmc_back\"}"));
        if parse_export(&body).len() == 20 || std::time::Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let back = parse_export(&back.replace("\"job\":\"vmc_back\"", "\"job\":\"vmc\""));
    assert_eq!(
        back, vm_data,
        "tidemark export → VictoriaMetrics import changed the data"
    );
}
