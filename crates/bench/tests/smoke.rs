//! CI smoke test: runs the `smoke` preset against the installed peers (and Tidemark when
//! its binary was built next to this one, as `cargo test --workspace --release` does) and
//! checks that the report is well formed and every system that ran stored every sample.

use std::path::{Path, PathBuf};
use std::process::Command;

const VICTORIA: &str = "/usr/bin/victoria-metrics";
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// `tidemark` from the same target directory and profile as this test's binary.
fn tidemark_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tidemark-bench")).with_file_name("tidemark")
}

/// `tidemark-bench` on the smoke preset, quick settings, working under `dir` and
/// writing its JSON report to `json`.
fn smoke_command(tidemark: &Path, dir: &Path, json: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidemark-bench"));
    cmd.args([
        "--preset",
        "smoke",
        "--concurrency",
        "2",
        "--query-repeats",
        "1",
    ])
    .arg("--tidemark-bin")
    .arg(tidemark)
    .arg("--work-dir")
    .arg(dir.join("work"))
    .arg("--json")
    .arg(json);
    cmd
}

#[test]
fn smoke_preset_produces_a_report() {
    let peers: Vec<&str> = [VICTORIA, PROMETHEUS]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    if peers.len() < 2 {
        let msg = "victoria-metrics and prometheus must be installed (scripts/install-deps)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
        return;
    }
    let tidemark = tidemark_binary();
    let mut systems = vec!["victoria-metrics", "prometheus"];
    if tidemark.exists() {
        systems.insert(0, "tidemark");
    } else if std::env::var_os("CI").is_some() {
        // `cargo test --workspace --release` always builds it; its absence is a bug here.
        panic!("{} was not built", tidemark.display());
    } else {
        eprintln!(
            "note: {} not built; running the peers only",
            tidemark.display()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let markdown = dir.path().join("report.md");
    let output = smoke_command(&tidemark, dir.path(), &json)
        .args(["--systems", &systems.join(",")])
        .arg("--output")
        .arg(&markdown)
        .output()
        .expect("running tidemark-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tidemark-bench failed:\n{stderr}");

    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        md.contains("| Figure | Tidemark | VictoriaMetrics | Prometheus |"),
        "{md}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        md.trim(),
        "stdout carries the same report"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let expected_samples = report["workload"]["samples"].as_u64().unwrap();
    let stale = report["workload"]["stale_markers"].as_u64().unwrap();
    assert!(
        expected_samples > 100_000,
        "smoke workload too small: {expected_samples}"
    );
    for system in report["systems"].as_array().unwrap() {
        let name = system["name"].as_str().unwrap();
        match system["status"].as_str().unwrap() {
            "ran" => {
                let summary = &system["summary"];
                assert_eq!(
                    summary["samples_sent"].as_f64().unwrap(),
                    (expected_samples + stale) as f64,
                    "{name}"
                );
                assert_eq!(
                    summary["samples_readable"].as_f64().unwrap(),
                    expected_samples as f64,
                    "{name} lost samples"
                );
                assert!(
                    summary["cpu_seconds_per_million_samples"].as_f64().unwrap() > 0.0,
                    "{name}"
                );
                assert!(
                    summary["data_bytes_per_sample"].as_f64().unwrap() > 0.0,
                    "{name}"
                );
                assert!(summary["queries"].as_array().unwrap().len() >= 10, "{name}");
                assert!(
                    system["cycles"][0]["changed_by_restart"]
                        .as_array()
                        .unwrap()
                        .is_empty(),
                    "{name}: {system}"
                );
            }
            // Only a Tidemark that was not built may be absent from the run.
            "skipped" if name == "Tidemark" && !tidemark.exists() => {}
            other => panic!("{name} did not run ({other}): {system}\n{stderr}"),
        }
    }
}

/// Without peers the tool says so, still measures Tidemark, and writes a report
/// whose peer columns read "not run".
#[test]
fn missing_peers_are_reported_and_tidemark_runs_alone() {
    let tidemark = tidemark_binary();
    if !tidemark.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{} was not built", tidemark.display());
        }
        eprintln!("skipping: {} not built", tidemark.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let missing = dir.path().join("no-such-binary");
    let output = smoke_command(&tidemark, dir.path(), &json)
        .arg("--victoria-metrics-bin")
        .arg(&missing)
        .arg("--prometheus-bin")
        .arg(&missing)
        .output()
        .expect("running tidemark-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tidemark-bench failed:\n{stderr}");
    for peer in ["VictoriaMetrics", "Prometheus"] {
        assert!(
            stderr.contains(&format!("{peer}: not installed")),
            "{peer} absence not said:\n{stderr}"
        );
    }
    let md = String::from_utf8_lossy(&output.stdout);
    assert!(md.contains("not run"), "{md}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let expected = report["workload"]["samples"].as_f64().unwrap();
    let systems = report["systems"].as_array().unwrap();
    let status = |name: &str| {
        systems
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("Tidemark").as_deref(), Some("ran"));
    assert_eq!(status("VictoriaMetrics").as_deref(), Some("skipped"));
    assert_eq!(status("Prometheus").as_deref(), Some("skipped"));
    let tidemark_report = systems.iter().find(|s| s["name"] == "Tidemark").unwrap();
    assert_eq!(
        tidemark_report["summary"]["samples_readable"].as_f64(),
        Some(expected),
        "Tidemark measured alone must still read back every sample"
    );
}
