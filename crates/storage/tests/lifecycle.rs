//! Retention, deletion, snapshots and corruption handling through the public API.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tidemark_model::{Sample, Tenant};
use tidemark_storage::{Storage, StorageError};

fn metric_value(s: &Storage, name: &str) -> f64 {
    let mut text = String::new();
    s.write_metrics(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
        .parse()
        .unwrap()
}

/// Part directories below `data/`, as `(partition, part)` paths.
fn part_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for partition in std::fs::read_dir(root.join("data")).unwrap() {
        for part in std::fs::read_dir(partition.unwrap().path()).unwrap() {
            out.push(part.unwrap().path());
        }
    }
    out.sort();
    out
}

#[test]
fn retention_drops_whole_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let s = open(dir.path());
        s.append(
            Tenant::DEFAULT,
            &[series(
                labels("m", &[]),
                &[(now - 5 * DAY_MS, 1.0), (now - HOUR_MS, 2.0)],
            )],
        )
        .unwrap();
        s.close().unwrap();
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        2,
        "two day partitions"
    );
    let mut opts = options(dir.path());
    opts.retention = Duration::from_secs(2 * 24 * 3600);
    let s = Storage::open(opts).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        1,
        "old partition deleted"
    );
    let got = select_all(&s, "m");
    assert_eq!(got[0].samples, vec![Sample::new(now - HOUR_MS, 2.0)]);
    assert_eq!(
        metric_value(&s, "tidemark_storage_partitions_dropped_total"),
        1.0
    );
}

#[test]
fn deleted_series_vanish_and_merges_drop_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - 2 * HOUR_MS;
    let big: Vec<(i64, f64)> = (0..20_000)
        .map(|i| (t0 + i * 100, (i * 7 % 1000) as f64 * 1.37))
        .collect();
    s.append(
        Tenant::DEFAULT,
        &[
            series(labels("doomed", &[]), &big),
            series(labels("kept", &[]), &[(t0, 1.0)]),
        ],
    )
    .unwrap();
    s.flush().unwrap();
    s.append(
        Tenant::DEFAULT,
        &[series(labels("doomed", &[]), &[(t0 + 5_000_000, 3.0)])],
    )
    .unwrap();
    let bytes_before = metric_value(&s, "tidemark_storage_parts_bytes");

    assert_eq!(
        s.delete_series(Tenant::DEFAULT, &name_is("doomed"))
            .unwrap(),
        1
    );
    assert!(
        select_all(&s, "doomed").is_empty(),
        "parts and buffer both hidden"
    );
    assert_eq!(select_all(&s, "kept").len(), 1);
    assert_eq!(
        s.delete_series(Tenant::DEFAULT, &name_is("doomed"))
            .unwrap(),
        0
    );

    // New samples with the same labels start a fresh series.
    s.append(
        Tenant::DEFAULT,
        &[series(labels("doomed", &[]), &[(t0 + 1, 9.0)])],
    )
    .unwrap();
    s.force_merge().unwrap();
    let bytes_after = metric_value(&s, "tidemark_storage_parts_bytes");
    assert!(
        bytes_after * 4.0 < bytes_before,
        "merge removed tombstoned data: {bytes_before} -> {bytes_after}"
    );
    s.close().unwrap();
    drop(s);

    let s = open(dir.path());
    assert_eq!(
        select_all(&s, "doomed")[0].samples,
        vec![Sample::new(t0 + 1, 9.0)]
    );
    assert_eq!(select_all(&s, "kept").len(), 1);
}

#[test]
fn deletion_is_replayed_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    {
        let s = open(dir.path());
        s.append(
            Tenant::DEFAULT,
            &[series(labels("gone", &[]), &[(t0, 1.0)])],
        )
        .unwrap();
        s.delete_series(Tenant::DEFAULT, &name_is("gone")).unwrap();
        s.append(
            Tenant::DEFAULT,
            &[series(labels("gone", &[]), &[(t0 + 1, 2.0)])],
        )
        .unwrap();
        // No close(): nothing reaches a part, everything must come back from the WAL.
        std::mem::forget(s);
    }
    let image = tempfile::tempdir().unwrap();
    copy_tree(dir.path(), image.path());
    let s = open(image.path());
    assert_eq!(
        select_all(&s, "gone")[0].samples,
        vec![Sample::new(t0 + 1, 2.0)]
    );
}

#[test]
fn snapshots_are_openable_and_survive_merges() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    s.append(Tenant::DEFAULT, &[series(labels("m", &[]), &[(t0, 1.0)])])
        .unwrap();
    s.flush().unwrap();
    s.append(
        Tenant::DEFAULT,
        &[series(labels("m", &[]), &[(t0 + 1, 2.0)])],
    )
    .unwrap();
    let name = s.create_snapshot().unwrap();
    assert_eq!(s.list_snapshots().unwrap(), vec![name.clone()]);

    s.append(
        Tenant::DEFAULT,
        &[series(labels("m", &[]), &[(t0 + 2, 3.0)])],
    )
    .unwrap();
    s.force_merge().unwrap(); // deletes the parts the snapshot links to

    let snap_copy = tempfile::tempdir().unwrap();
    copy_tree(&dir.path().join("snapshots").join(&name), snap_copy.path());
    {
        let restored = open(snap_copy.path());
        assert_eq!(
            select_all(&restored, "m")[0].samples,
            vec![Sample::new(t0, 1.0), Sample::new(t0 + 1, 2.0)]
        );
    }
    assert!(matches!(
        s.delete_snapshot("../data"),
        Err(StorageError::Invalid(_))
    ));
    assert!(matches!(
        s.delete_snapshot("nope"),
        Err(StorageError::Invalid(_))
    ));
    s.delete_snapshot(&name).unwrap();
    assert!(s.list_snapshots().unwrap().is_empty());
    assert_eq!(select_all(&s, "m")[0].samples.len(), 3);
}

#[test]
fn a_corrupt_block_names_its_part_and_the_rest_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    let samples: Vec<(i64, f64)> = (0..100).map(|i| (t0 + i, i as f64)).collect();
    s.append(Tenant::DEFAULT, &[series(labels("a", &[]), &samples)])
        .unwrap();
    s.flush().unwrap();
    s.append(Tenant::DEFAULT, &[series(labels("b", &[]), &samples)])
        .unwrap();
    s.flush().unwrap();
    let parts = part_dirs(dir.path());
    assert_eq!(parts.len(), 2);
    // The first part holds series "a"; damage its block bytes.
    let blocks = parts[0].join("blocks.bin");
    let mut data = std::fs::read(&blocks).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xa5;
    std::fs::write(&blocks, data).unwrap();

    match s.select(Tenant::DEFAULT, &name_is("a"), t0, t0 + 1000) {
        Err(StorageError::Corrupt { file, reason, .. }) => {
            assert_eq!(file, blocks, "error names the damaged file");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The damaged part is moved aside; everything else still answers.
    assert!(select_all(&s, "a").is_empty());
    assert_eq!(select_all(&s, "b")[0].samples.len(), 100);
    assert_eq!(metric_value(&s, "tidemark_storage_corruptions_total"), 1.0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .count(),
        1
    );
    s.close().unwrap();
    drop(s);
    let s = open(dir.path());
    assert_eq!(select_all(&s, "b")[0].samples.len(), 100);
}

#[test]
fn a_part_with_corrupt_metadata_is_quarantined_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    {
        let s = open(dir.path());
        s.append(Tenant::DEFAULT, &[series(labels("a", &[]), &[(t0, 1.0)])])
            .unwrap();
        s.flush().unwrap();
        s.append(Tenant::DEFAULT, &[series(labels("b", &[]), &[(t0, 2.0)])])
            .unwrap();
        s.close().unwrap();
    }
    let parts = part_dirs(dir.path());
    let index = parts[1].join("index.bin");
    let mut data = std::fs::read(&index).unwrap();
    data[10] ^= 0x01;
    std::fs::write(&index, data).unwrap();
    let s = open(dir.path());
    assert_eq!(select_all(&s, "a")[0].samples, vec![Sample::new(t0, 1.0)]);
    assert!(select_all(&s, "b").is_empty());
    assert_eq!(
        metric_value(&s, "tidemark_storage_quarantined_parts_total"),
        1.0
    );
}

#[test]
fn a_merge_that_meets_a_corrupt_part_quarantines_it_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    let samples: Vec<(i64, f64)> = (0..50).map(|i| (t0 + i, i as f64)).collect();
    s.append(Tenant::DEFAULT, &[series(labels("a", &[]), &samples)])
        .unwrap();
    s.flush().unwrap();
    s.append(Tenant::DEFAULT, &[series(labels("b", &[]), &samples)])
        .unwrap();
    s.flush().unwrap();
    let parts = part_dirs(dir.path());
    let blocks = parts[0].join("blocks.bin");
    let mut data = std::fs::read(&blocks).unwrap();
    data[1] ^= 0xff;
    std::fs::write(&blocks, data).unwrap();

    assert!(matches!(s.force_merge(), Err(StorageError::Corrupt { .. })));
    s.force_merge().unwrap();
    assert_eq!(select_all(&s, "b")[0].samples.len(), 50);
    assert!(select_all(&s, "a").is_empty());
    assert_eq!(
        metric_value(&s, "tidemark_storage_quarantined_parts_total"),
        1.0
    );
}
