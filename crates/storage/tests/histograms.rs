//! Native histogram samples end to end through the storage engine: buffer, WAL
//! replay after a crash, flush, merge, reopen, deletes, dedup and corruption.

mod common;

use std::time::Duration;

use common::*;
use tidemark_model::{
    BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, Sample, Tenant,
};
use tidemark_storage::{HistogramSeries, SeriesSamples, Storage, StorageError};

/// A counter-like histogram: `i` observations spread over three buckets.
fn histogram(i: u32) -> FloatHistogram {
    let i = f64::from(i);
    FloatHistogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 1.0 + 3.0 * i,
        sum: 0.5 * i,
        positive_spans: vec![
            BucketSpan {
                offset: -1,
                length: 2,
            },
            BucketSpan {
                offset: 3,
                length: 1,
            },
        ],
        positive_buckets: vec![i, i, i],
        ..Default::default()
    }
}

fn hseries(name: &str, samples: &[(i64, u32)]) -> HistogramSeries {
    HistogramSeries {
        labels: labels(name, &[("job", "api")]),
        samples: samples
            .iter()
            .map(|&(t, i)| HistogramSample {
                timestamp: t,
                histogram: histogram(i),
            })
            .collect(),
    }
}

fn read(s: &Storage, name: &str) -> Vec<SeriesSamples> {
    s.select_with_histograms(Tenant::DEFAULT, &name_is(name), i64::MIN / 2, i64::MAX / 2)
        .expect("select")
}

fn timestamps(h: &[HistogramSample]) -> Vec<i64> {
    h.iter().map(|s| s.timestamp).collect()
}

#[test]
fn histograms_survive_flush_merge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    let expected: Vec<HistogramSample> = (0..3000u32)
        .map(|i| HistogramSample {
            timestamp: t0 + i64::from(i) * 1000,
            histogram: histogram(i),
        })
        .collect();
    {
        let s = open(dir.path());
        // Three batches, the middle one out of order, flushed separately: three parts.
        for chunk in [&expected[1000..2000], &expected[..1000], &expected[2000..]] {
            let batch = [HistogramSeries {
                labels: labels("rpc", &[("job", "api")]),
                samples: chunk.to_vec(),
            }];
            let stats = s.append_histograms(Tenant::DEFAULT, &batch).unwrap();
            assert_eq!(stats.samples, 1000);
            assert_eq!(read(&s, "rpc")[0].histograms.len(), s_len(&s, "rpc"));
            s.flush().unwrap();
        }
        // A float series next to it, and a float sample inside the histogram series.
        s.append(Tenant::DEFAULT, &[series(labels("up", &[]), &[(t0, 1.0)])])
            .unwrap();
        let got = read(&s, "rpc");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].histograms, expected);
        assert!(got[0].floats.is_empty());
        s.force_merge().unwrap();
        assert_eq!(read(&s, "rpc")[0].histograms, expected);
        assert_eq!(read(&s, "up")[0].floats, vec![Sample::new(t0, 1.0)]);
        assert!(read(&s, "up")[0].histograms.is_empty());
        s.close().unwrap();
    }
    let s = open(dir.path());
    assert_eq!(read(&s, "rpc")[0].histograms, expected, "after reopen");
    // The float-only select does not return histogram series.
    assert!(select_all(&s, "rpc").is_empty());
    // A range in the middle returns just that range.
    let mid = s
        .select_with_histograms(Tenant::DEFAULT, &name_is("rpc"), t0 + 10_000, t0 + 12_000)
        .unwrap();
    assert_eq!(
        timestamps(&mid[0].histograms),
        vec![t0 + 10_000, t0 + 11_000, t0 + 12_000]
    );
}

fn s_len(s: &Storage, name: &str) -> usize {
    read(s, name).iter().map(|x| x.histograms.len()).sum()
}

#[test]
fn wal_replay_after_a_crash_restores_unflushed_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    let s = open(dir.path());
    s.append_histograms(
        Tenant::DEFAULT,
        &[hseries("rpc", &[(t0, 1), (t0 + 1000, 2)])],
    )
    .unwrap();
    s.append_histograms(Tenant::DEFAULT, &[hseries("rpc", &[(t0 + 2000, 3)])])
        .unwrap();
    s.append(Tenant::DEFAULT, &[series(labels("up", &[]), &[(t0, 1.0)])])
        .unwrap();
    // What a kill -9 leaves: the directory as it is now, nothing flushed.
    copy_tree(dir.path(), image.path());
    drop(s);
    let replayed = open(image.path());
    let got = read(&replayed, "rpc");
    assert_eq!(
        timestamps(&got[0].histograms),
        vec![t0, t0 + 1000, t0 + 2000]
    );
    assert_eq!(got[0].histograms[2].histogram, histogram(3));
    assert_eq!(read(&replayed, "up")[0].floats.len(), 1);
    // Replayed data flushes like any other.
    replayed.flush().unwrap();
    assert_eq!(s_len(&replayed, "rpc"), 3);
}

#[test]
fn same_timestamp_keeps_the_greatest_histogram_and_beats_a_float() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    let s = open(dir.path());
    s.append_histograms(Tenant::DEFAULT, &[hseries("rpc", &[(t0, 5)])])
        .unwrap();
    s.flush().unwrap();
    s.append_histograms(Tenant::DEFAULT, &[hseries("rpc", &[(t0, 2), (t0, 7)])])
        .unwrap();
    let rpc = labels("rpc", &[("job", "api")]);
    s.append(Tenant::DEFAULT, &[series(rpc, &[(t0, 9.0), (t0 + 1, 1.0)])])
        .unwrap();
    let check = |s: &Storage| {
        let got = read(s, "rpc");
        assert_eq!(
            got[0].histograms,
            vec![HistogramSample {
                timestamp: t0,
                histogram: histogram(7)
            }]
        );
        assert_eq!(
            got[0].floats,
            vec![Sample::new(t0 + 1, 1.0)],
            "the histogram shadows the float at t0"
        );
    };
    check(&s);
    s.force_merge().unwrap();
    check(&s);
}

#[test]
fn deletes_and_dedup_apply_to_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.dedup_interval = Duration::from_secs(10);
    let s = Storage::open(opts).unwrap();
    let t0 = (now_ms() - HOUR_MS) / 10_000 * 10_000;
    let samples: Vec<(i64, u32)> = (0..30).map(|i| (t0 + i64::from(i) * 1000, i)).collect();
    s.append_histograms(Tenant::DEFAULT, &[hseries("rpc", &samples)])
        .unwrap();
    let got = read(&s, "rpc");
    // Intervals (t0-10s, t0], (t0, t0+10s], ...: the last sample of each survives.
    assert_eq!(
        timestamps(&got[0].histograms),
        vec![t0, t0 + 10_000, t0 + 20_000, t0 + 29_000]
    );
    s.flush().unwrap();
    s.force_merge().unwrap();
    assert_eq!(timestamps(&read(&s, "rpc")[0].histograms).len(), 4);
    // A time-range delete hides just that range, before and after a merge.
    s.delete_range(Tenant::DEFAULT, &name_is("rpc"), t0 + 1, t0 + 20_000)
        .unwrap();
    assert_eq!(
        timestamps(&read(&s, "rpc")[0].histograms),
        vec![t0, t0 + 29_000]
    );
    s.force_merge().unwrap();
    assert_eq!(
        timestamps(&read(&s, "rpc")[0].histograms),
        vec![t0, t0 + 29_000]
    );
    assert_eq!(
        s.delete_series(Tenant::DEFAULT, &name_is("rpc")).unwrap(),
        1
    );
    assert!(read(&s, "rpc").is_empty());
    s.force_merge().unwrap();
    assert!(read(&s, "rpc").is_empty());
}

#[test]
fn inconsistent_histograms_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms();
    let mut bad = hseries("rpc", &[(t0, 1), (t0 + 1, 2)]);
    bad.samples[1].histogram.positive_buckets.pop();
    let err = s.append_histograms(Tenant::DEFAULT, &[bad]).unwrap_err();
    assert!(
        matches!(&err, StorageError::Invalid(m) if m.contains("spans describe 3 buckets")),
        "{err}"
    );
    let mut bad = hseries("rpc", &[(t0, 1)]);
    bad.samples[0].histogram.schema = 12;
    assert!(s.append_histograms(Tenant::DEFAULT, &[bad]).is_err());
    assert!(
        read(&s, "rpc").is_empty(),
        "nothing of a refused batch is stored"
    );
}

#[test]
fn a_corrupt_histogram_block_is_a_clear_error_and_quarantines_its_part() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - HOUR_MS;
    let s = open(dir.path());
    let samples: Vec<(i64, u32)> = (0..100).map(|i| (t0 + i64::from(i) * 1000, i)).collect();
    s.append_histograms(Tenant::DEFAULT, &[hseries("rpc", &samples)])
        .unwrap();
    s.flush().unwrap();
    let blocks = find_file(dir.path(), "blocks.bin");
    let mut data = std::fs::read(&blocks).unwrap();
    let last = data.len() - 2;
    data[last] ^= 0x5a;
    std::fs::write(&blocks, data).unwrap();
    let err = s
        .select_with_histograms(Tenant::DEFAULT, &name_is("rpc"), i64::MIN / 2, i64::MAX / 2)
        .unwrap_err();
    match &err {
        StorageError::Corrupt { file, reason, .. } => {
            assert_eq!(file, &blocks);
            assert!(reason.contains("histogram block checksum"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
    // The part is out of service; the store keeps working.
    assert!(read(&s, "rpc").is_empty());
    let mut metrics = String::new();
    s.write_metrics(&mut metrics);
    assert!(
        metrics.contains("tidemark_storage_quarantined_parts_total 1"),
        "{metrics}"
    );
}

fn find_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    find(dir, name).unwrap_or_else(|| panic!("no {name} under {}", dir.display()))
}

fn find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if let Some(found) = find(&p, name) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
