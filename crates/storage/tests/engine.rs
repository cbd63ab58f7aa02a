//! End-to-end behaviour through the public API: write, read, flush, merge, reopen,
//! limits, metadata queries and metrics.

mod common;

use common::*;
use tidemark_model::{is_stale_nan, MatchOp, Matcher, Sample, Tenant, STALE_NAN};
use tidemark_storage::{SeriesRef, Storage, StorageError};

#[test]
fn samples_survive_flush_merge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - 2 * HOUR_MS;
    let a = labels("cpu", &[("host", "a")]);
    let b = labels("cpu", &[("host", "b")]);
    {
        let s = open(dir.path());
        // Out of order, with a same-timestamp duplicate and a stale marker.
        s.append(
            Tenant::DEFAULT,
            &[series(a.clone(), &[(t0 + 20, 2.0), (t0, 0.0)])],
        )
        .unwrap();
        s.flush().unwrap();
        s.append(
            Tenant::DEFAULT,
            &[series(a.clone(), &[(t0 + 10, 1.0), (t0 + 20, 1.5)])],
        )
        .unwrap();
        s.flush().unwrap();
        s.append(
            Tenant::DEFAULT,
            &[
                series(a.clone(), &[(t0 + 30, STALE_NAN)]),
                series(b.clone(), &[(t0, 9.0)]),
            ],
        )
        .unwrap();
        let got = select_all(&s, "cpu");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels, a);
        let vals: Vec<(i64, u64)> = got[0]
            .samples
            .iter()
            .map(|s| (s.timestamp - t0, s.value.to_bits()))
            .collect();
        assert_eq!(
            vals,
            vec![
                (0, 0f64.to_bits()),
                (10, 1f64.to_bits()),
                (20, 2f64.to_bits()),
                (30, STALE_NAN.to_bits())
            ],
            "max value wins on equal timestamps; stale marker bit-exact"
        );
        s.force_merge().unwrap();
        assert_eq!(select_all(&s, "cpu"), got);
        s.close().unwrap();
        assert!(matches!(
            s.append(Tenant::DEFAULT, &[]),
            Err(StorageError::Closed)
        ));
    }
    let s = open(dir.path());
    let got = select_all(&s, "cpu");
    assert_eq!(got.len(), 2);
    assert!(is_stale_nan(got[0].samples[3].value));
    assert_eq!(got[1].samples, vec![Sample::new(t0, 9.0)]);
}

#[test]
fn unflushed_samples_are_replayed_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    {
        let s = open(dir.path());
        s.append(Tenant::DEFAULT, &[series(labels("m", &[]), &[(t0, 1.0)])])
            .unwrap();
        s.flush().unwrap();
        s.append(
            Tenant::DEFAULT,
            &[series(labels("m", &[]), &[(t0 + 1, 2.0)])],
        )
        .unwrap();
        // Simulate a crash: skip close() so nothing else is flushed.
        std::mem::forget(s);
    }
    // forget() keeps the directory lock held by this process, so open a copy: a
    // crash image of the directory.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(dir.path(), copy.path());
    let s = open(copy.path());
    let got = select_all(&s, "m");
    assert_eq!(
        got[0].samples,
        vec![Sample::new(t0, 1.0), Sample::new(t0 + 1, 2.0)]
    );
}

#[test]
fn borrowed_and_owned_appends_share_series() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t = now_ms();
    s.append(
        Tenant::DEFAULT,
        &[series(labels("m", &[("job", "a")]), &[(t, 1.0)])],
    )
    .unwrap();
    let pairs = [("__name__", "m"), ("job", "a")];
    let later = [Sample::new(t + 1, 2.0), Sample::new(t + 2, 3.0)];
    let stats = s
        .append_borrowed(
            Tenant::DEFAULT,
            &[SeriesRef {
                labels: &pairs,
                samples: &later,
            }],
        )
        .unwrap();
    assert_eq!((stats.series, stats.samples), (1, 2));
    let got = s.select(Tenant::DEFAULT, &name_is("m"), t, t + 2).unwrap();
    assert_eq!(got.len(), 1, "one series, whichever API wrote it");
    assert_eq!(got[0].samples.len(), 3);

    // Pairs that are not in the sorted, non-empty Labels form would break series
    // identity, so the whole batch is refused.
    for bad in [
        &[("job", "a"), ("__name__", "m")][..],
        &[("__name__", "m"), ("job", "")][..],
        &[("__name__", "m"), ("job", "a"), ("job", "b")][..],
    ] {
        let err = s
            .append_borrowed(
                Tenant::DEFAULT,
                &[SeriesRef {
                    labels: bad,
                    samples: &later,
                }],
            )
            .unwrap_err();
        assert!(matches!(err, StorageError::Invalid(_)), "{bad:?}: {err}");
    }
    drop(s);
    let s = open(dir.path());
    let got = s.select(Tenant::DEFAULT, &name_is("m"), t, t + 2).unwrap();
    assert_eq!(got[0].samples.len(), 3, "replayed from the WAL");
}

#[test]
fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t = now_ms();
    s.append(Tenant::new(1, 0), &[series(labels("m", &[]), &[(t, 1.0)])])
        .unwrap();
    s.append(Tenant::new(2, 0), &[series(labels("m", &[]), &[(t, 2.0)])])
        .unwrap();
    let one = s
        .select(Tenant::new(1, 0), &name_is("m"), t - 1, t + 1)
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].samples[0].value, 1.0);
    assert!(s
        .select(Tenant::DEFAULT, &name_is("m"), t - 1, t + 1)
        .unwrap()
        .is_empty());
}

#[test]
fn too_many_series_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.max_series_per_select = 2;
    let s = Storage::open(opts).unwrap();
    let t = now_ms();
    let batch: Vec<_> = (0..3)
        .map(|i| series(labels("m", &[("i", &i.to_string())]), &[(t, 1.0)]))
        .collect();
    s.append(Tenant::DEFAULT, &batch).unwrap();
    assert!(matches!(
        s.select(Tenant::DEFAULT, &name_is("m"), t - 1, t + 1),
        Err(StorageError::TooManySeries { limit: 2 })
    ));
    let narrow = [
        Matcher::equal("__name__", "m"),
        Matcher::new(MatchOp::Regex, "i", "0|1").unwrap(),
    ];
    assert_eq!(
        s.select(Tenant::DEFAULT, &narrow, t - 1, t + 1)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn old_samples_are_rejected_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let now = now_ms();
    let stats = s
        .append(
            Tenant::DEFAULT,
            &[series(
                labels("m", &[]),
                &[(now - 40 * DAY_MS, 1.0), (now, 2.0)],
            )],
        )
        .unwrap();
    assert_eq!((stats.series, stats.samples, stats.rejected), (1, 1, 1));
    let mut text = String::new();
    s.write_metrics(&mut text);
    assert!(
        text.contains("tidemark_storage_rows_rejected_total{reason=\"too_old\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tidemark_storage_rows_ingested_total 1"),
        "{text}"
    );
    assert!(text.contains("tidemark_storage_active_series 1"), "{text}");
}

#[test]
fn label_queries_respect_time_range_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let now = now_ms();
    let old = now - 3 * DAY_MS;
    s.append(
        Tenant::DEFAULT,
        &[
            series(labels("up", &[("job", "api")]), &[(now, 1.0)]),
            series(labels("up", &[("job", "db")]), &[(now, 1.0)]),
            series(labels("old_metric", &[("zone", "x")]), &[(old, 1.0)]),
        ],
    )
    .unwrap();
    s.flush().unwrap();
    let recent = (now - HOUR_MS, now + HOUR_MS);
    assert_eq!(
        s.label_names(Tenant::DEFAULT, &[], recent.0, recent.1, 0)
            .unwrap(),
        vec!["__name__", "job"]
    );
    assert_eq!(
        s.label_values(Tenant::DEFAULT, "job", &[], recent.0, recent.1, 0)
            .unwrap(),
        vec!["api", "db"]
    );
    assert_eq!(
        s.label_values(Tenant::DEFAULT, "job", &[], recent.0, recent.1, 1)
            .unwrap(),
        vec!["api"]
    );
    assert_eq!(
        s.label_values(
            Tenant::DEFAULT,
            "__name__",
            &[],
            old - HOUR_MS,
            now + HOUR_MS,
            0
        )
        .unwrap(),
        vec!["old_metric", "up"]
    );
    let sets = vec![name_is("up"), name_is("old_metric")];
    let found = s
        .series(Tenant::DEFAULT, &sets, old - HOUR_MS, now + HOUR_MS, 0)
        .unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(
        s.series(Tenant::DEFAULT, &sets, recent.0, recent.1, 0)
            .unwrap()
            .len(),
        2
    );

    let status = s.tsdb_status(Tenant::DEFAULT, 1).unwrap();
    assert_eq!(status.num_series, 3);
    assert_eq!(
        status.series_count_by_metric_name,
        vec![("up".to_string(), 2)]
    );
    assert_eq!(
        status.series_count_by_label_name,
        vec![("__name__".to_string(), 3)]
    );
}

#[test]
fn dedup_interval_keeps_one_sample_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.dedup_interval = std::time::Duration::from_secs(10);
    let s = Storage::open(opts).unwrap();
    let base = (now_ms() / 10_000 - 100) * 10_000; // interval-aligned
    let raw: Vec<(i64, f64)> = (0..30).map(|i| (base + 1 + i * 1000, i as f64)).collect();
    s.append(Tenant::DEFAULT, &[series(labels("m", &[]), &raw)])
        .unwrap();
    let got = select_all(&s, "m");
    let ts: Vec<i64> = got[0].samples.iter().map(|x| x.timestamp - base).collect();
    assert_eq!(
        ts,
        vec![9001, 19001, 29001],
        "last sample of each (k*10s-10s, k*10s] interval"
    );
    s.force_merge().unwrap();
    assert_eq!(select_all(&s, "m"), got, "merges apply the same rule");
}

#[test]
fn concurrent_writers_with_background_flushes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.flush_interval = std::time::Duration::from_millis(10);
    let s = std::sync::Arc::new(Storage::open(opts.clone()).unwrap());
    let t0 = now_ms() - HOUR_MS;
    const THREADS: i64 = 4;
    const BATCHES: i64 = 150;
    let writers: Vec<_> = (0..THREADS)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    let batch: Vec<_> = (0..10)
                        .map(|k| {
                            series(
                                labels("conc", &[("k", &k.to_string())]),
                                &[(t0 + b * THREADS + w, k as f64)],
                            )
                        })
                        .collect();
                    s.append(Tenant::DEFAULT, &batch).unwrap();
                }
            })
        })
        .collect();
    // Read while writing and flushing: a sample once visible never disappears, and
    // flushes in flight never produce duplicates.
    let mut seen = [0usize; 10];
    for _ in 0..30 {
        for ts in select_all(&s, "conc") {
            let k: usize = ts.labels.get("k").unwrap().parse().unwrap();
            let mut t: Vec<i64> = ts.samples.iter().map(|x| x.timestamp).collect();
            t.dedup();
            assert_eq!(
                t.len(),
                ts.samples.len(),
                "no duplicate timestamps returned"
            );
            assert!(
                ts.samples.len() >= seen[k],
                "samples vanished during a flush"
            );
            seen[k] = ts.samples.len();
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    let expect = (THREADS * BATCHES) as usize;
    let check = |s: &Storage| {
        let got = select_all(s, "conc");
        assert_eq!(got.len(), 10);
        for ts in got {
            assert_eq!(ts.samples.len(), expect, "{}", ts.labels);
        }
    };
    check(&s);
    s.close().unwrap();
    drop(s);
    check(&Storage::open(opts).unwrap());
}

#[test]
fn a_full_buffer_is_flushed_before_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path()); // flush interval: one hour
    opts.memory_budget_bytes = 256 << 10;
    let s = Storage::open(opts).unwrap();
    let t0 = now_ms() - HOUR_MS;
    let samples: Vec<(i64, f64)> = (0..20_000).map(|i| (t0 + i, i as f64)).collect();
    s.append(Tenant::DEFAULT, &[series(labels("m", &[]), &samples)])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut text = String::new();
        s.write_metrics(&mut text);
        if text.contains("tidemark_storage_flushes_total 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no flush under memory pressure:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(select_all(&s, "m")[0].samples.len(), 20_000);
}
