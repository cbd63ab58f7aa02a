//! On-disk format: registry compaction through the public API, and which format
//! versions open.

mod common;

use std::path::Path;

use common::*;
use tidemark_model::Tenant;
use tidemark_storage::{Storage, StorageError, FORMAT_VERSION};

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn write_hosts(s: &Storage, hosts: std::ops::Range<usize>, at: i64) {
    let batch: Vec<_> = hosts
        .flat_map(|h| {
            let instance = format!("host-{h}:9100");
            (0..20).map(move |m| {
                series(
                    labels(
                        &format!("node_metric_{m}"),
                        &[("instance", &instance), ("job", "node")],
                    ),
                    &[(at, h as f64)],
                )
            })
        })
        .collect();
    s.append(Tenant::DEFAULT, &batch).unwrap();
}

#[test]
fn force_merge_compacts_the_registry_and_series_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let now = now_ms();
    {
        let s = open(dir.path());
        write_hosts(&s, 0..50, now - 60_000);
        s.flush().unwrap();
        let log_before = file_len(&index.join("series.log"));
        s.force_merge().unwrap();
        let snapshot = file_len(&index.join("series.snap"));
        assert_eq!(file_len(&index.join("series.log")), 0);
        assert!(
            snapshot > 0 && snapshot * 10 < log_before,
            "snapshot {snapshot} bytes, log was {log_before}"
        );
        // Series created after the compaction go to the log.
        write_hosts(&s, 50..60, now - 30_000);
        s.close().unwrap();
    }
    let s = open(dir.path());
    assert_eq!(select_all(&s, "node_metric_7").len(), 60);
    // Existing series keep their ids: appending again creates nothing new.
    let log_len = file_len(&index.join("series.log"));
    write_hosts(&s, 0..60, now - 1_000);
    s.flush().unwrap();
    assert_eq!(file_len(&index.join("series.log")), log_len);
    let one = select_all(&s, "node_metric_3");
    assert!(one.iter().all(|ts| ts.samples.len() >= 2));
}

#[test]
fn version_2_directories_open_and_are_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let s = open(dir.path());
        write_hosts(&s, 0..3, now - 60_000);
        s.close().unwrap();
    }
    // Version 2 wrote the same files minus the registry snapshot.
    assert!(!dir.path().join("index/series.snap").exists());
    std::fs::write(dir.path().join("FORMAT"), "tidemark-storage 2\n").unwrap();
    let s = open(dir.path());
    assert_eq!(select_all(&s, "node_metric_0").len(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
        format!("tidemark-storage {FORMAT_VERSION}\n")
    );
}

#[test]
fn unsupported_versions_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).close().unwrap();
    for version in [1, FORMAT_VERSION + 1] {
        std::fs::write(
            dir.path().join("FORMAT"),
            format!("tidemark-storage {version}\n"),
        )
        .unwrap();
        match Storage::open(options(dir.path())) {
            Err(StorageError::Invalid(msg)) => assert!(
                msg.contains(&format!(
                    "unsupported format version {version}, expected 2 to {FORMAT_VERSION}"
                )),
                "{msg}"
            ),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("format {version} opened"),
        }
    }
}
