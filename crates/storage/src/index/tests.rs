//! Persistence of the index through real engines: postings files written at close
//! are loaded at open, and missing, corrupt or stale files are repaired.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tidemark_model::{Labels, Matcher, Sample, Tenant};

use crate::engine::Engine;
use crate::index::{day_file, CompactPolicy, IndexOpenReport, POSTINGS_DIR};
use crate::time::{self, Day};
use crate::{FsyncPolicy, SeriesRef, StorageOptions};

const DAY_MS: i64 = 86_400_000;

fn open(dir: &Path) -> Arc<Engine> {
    Engine::open(StorageOptions {
        path: dir.to_path_buf(),
        retention: Duration::from_secs(30 * 24 * 3600),
        fsync: FsyncPolicy::Never,
        flush_interval: Duration::from_secs(3600),
        ..StorageOptions::default()
    })
    .expect("open")
}

fn append(e: &Engine, pairs: &[(&str, &str)], ts: i64) {
    let samples = [Sample::new(ts, 1.0)];
    e.append(
        Tenant::DEFAULT,
        &[SeriesRef {
            labels: pairs,
            samples: &samples,
        }],
    )
    .expect("append");
}

/// Every series' labels the index finds for `matchers` over the last three days.
fn series(e: &Engine, matchers: &[Matcher]) -> Vec<Labels> {
    let now = time::now_ms();
    e.series(
        Tenant::DEFAULT,
        &[matchers.to_vec()],
        now - 3 * DAY_MS,
        now,
        0,
    )
    .expect("series")
}

fn report(e: &Engine) -> &IndexOpenReport {
    e.index.open_report()
}

fn postings_file(dir: &Path, day: Day) -> std::path::PathBuf {
    day_file::path(&dir.join("index").join(POSTINGS_DIR), day)
}

/// Two days of series: `job=api` on both days, `job=db` today only.
fn fill(dir: &Path) -> (Day, Day) {
    let now = time::now_ms();
    let e = open(dir);
    for i in 0..50 {
        let instance = format!("host-{i}");
        append(
            &e,
            &[("__name__", "up"), ("instance", &instance), ("job", "api")],
            now - DAY_MS,
        );
        append(
            &e,
            &[("__name__", "up"), ("instance", &instance), ("job", "api")],
            now,
        );
        append(
            &e,
            &[("__name__", "up"), ("instance", &instance), ("job", "db")],
            now,
        );
    }
    e.close().expect("close");
    (time::day_of(now - DAY_MS), time::day_of(now))
}

fn job(value: &str) -> Vec<Matcher> {
    vec![Matcher::equal("job", value)]
}

#[test]
fn postings_files_written_at_close_are_loaded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (yesterday, today) = fill(dir.path());
    assert!(postings_file(dir.path(), yesterday).exists());
    assert!(postings_file(dir.path(), today).exists());
    let e = open(dir.path());
    let r = report(&e);
    assert_eq!(
        (r.days_loaded, r.days_rebuilt, r.series_added),
        (2, 0, 0),
        "{r:?}"
    );
    assert_eq!(series(&e, &job("api")).len(), 50);
    assert_eq!(series(&e, &job("db")).len(), 50);
    assert_eq!(series(&e, &[Matcher::equal("instance", "host-7")]).len(), 2);
}

#[test]
fn a_missing_postings_file_is_rebuilt_from_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_, today) = fill(dir.path());
    std::fs::remove_file(postings_file(dir.path(), today)).unwrap();
    let e = open(dir.path());
    let r = report(&e);
    assert_eq!(
        (r.days_loaded, r.days_rebuilt, r.corrupt_files),
        (1, 1, 0),
        "{r:?}"
    );
    assert_eq!(r.series_added, 100, "{r:?}");
    assert_eq!(series(&e, &job("db")).len(), 50);
    e.close().unwrap();
    assert!(
        postings_file(dir.path(), today).exists(),
        "rewritten at close"
    );
}

#[test]
fn a_corrupt_postings_file_is_counted_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (yesterday, _) = fill(dir.path());
    let path = postings_file(dir.path(), yesterday);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    let e = open(dir.path());
    let r = report(&e);
    assert_eq!((r.days_loaded, r.corrupt_files), (1, 1), "{r:?}");
    assert_eq!(e.metrics.corruptions.load(Ordering::Relaxed), 1);
    assert_eq!(series(&e, &job("api")).len(), 50);
}

#[test]
fn a_stale_postings_file_is_reconciled_with_parts_and_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (_, today) = fill(dir.path());
    let path = postings_file(dir.path(), today);
    let old = std::fs::read(&path).unwrap();
    {
        let e = open(dir.path());
        append(
            &e,
            &[("__name__", "up"), ("instance", "new"), ("job", "db")],
            time::now_ms(),
        );
        e.delete_series(Tenant::DEFAULT, &[Matcher::equal("instance", "host-3")])
            .unwrap();
        e.close().unwrap();
    }
    // The file from before the new series and the deletion, as if the last close had
    // crashed before rewriting it.
    std::fs::write(&path, old).unwrap();
    let e = open(dir.path());
    let r = report(&e);
    assert_eq!((r.days_loaded, r.series_added), (2, 1), "{r:?}");
    assert_eq!(r.series_dropped, 2, "host-3's two series of today: {r:?}");
    let db = series(&e, &job("db"));
    assert_eq!(db.len(), 50, "49 old + the new one");
    assert!(db.iter().any(|l| l.get("instance") == Some("new")));
    assert!(series(&e, &[Matcher::equal("instance", "host-3")]).is_empty());
}

#[test]
fn files_of_days_without_parts_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (yesterday, _) = fill(dir.path());
    let far = yesterday - 5;
    std::fs::copy(
        postings_file(dir.path(), yesterday),
        postings_file(dir.path(), far),
    )
    .unwrap();
    let e = open(dir.path());
    assert!(!postings_file(dir.path(), far).exists());
    assert_eq!(report(&e).days_loaded, 2);
}

/// Copies a data directory as a crash would leave it (minus the lock file).
fn crash_image(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            crash_image(&e.path(), &dest);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn a_crash_after_persisting_series_whose_samples_were_lost_hides_them() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    let now = time::now_ms();
    {
        let e = open(dir.path());
        append(&e, &[("__name__", "up"), ("job", "flushed")], now);
        e.flush().unwrap();
        append(&e, &[("__name__", "up"), ("job", "lost")], now);
        // The file now lists the series of job="lost", whose only sample is in the WAL.
        e.index.compact(CompactPolicy::Changed).unwrap();
        e.registry.sync().unwrap();
        crash_image(dir.path(), image.path());
    }
    // An unsynced WAL tail lost in the crash.
    for f in std::fs::read_dir(image.path().join("wal")).unwrap() {
        let f = f.unwrap();
        if f.file_name() != "checkpoint" {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let e = open(image.path());
    let r = report(&e);
    assert_eq!((r.days_loaded, r.series_dropped), (1, 1), "{r:?}");
    assert!(series(&e, &job("lost")).is_empty());
    assert_eq!(series(&e, &job("flushed")).len(), 1);
    // New series never reuse the hidden series' id.
    append(&e, &[("__name__", "up"), ("job", "new")], now);
    assert_eq!(series(&e, &job("new")).len(), 1);
    assert!(series(&e, &job("lost")).is_empty());
    assert_eq!(series(&e, &[Matcher::equal("__name__", "up")]).len(), 2);
}

#[test]
fn ingest_and_full_listings_leave_the_identity_cache_to_queries() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let now = time::now_ms();
    for i in 0..40 {
        let host = format!("h{i}");
        append(
            &e,
            &[("__name__", "up"), ("host", &host), ("job", "node")],
            now,
        );
    }
    assert_eq!(
        e.registry.cached_infos(),
        0,
        "indexing new series cached them"
    );
    let everything = e
        .series(Tenant::DEFAULT, &[], now - DAY_MS, now, 0)
        .expect("series");
    assert_eq!(everything.len(), 40);
    assert_eq!(
        e.registry.cached_infos(),
        0,
        "listing every series cached them"
    );
    assert_eq!(series(&e, &job("node")).len(), 40);
    assert_eq!(
        e.registry.cached_infos(),
        40,
        "a matcher's series are cached"
    );
}
