//! The batched select: batches in label order that together equal a select, with
//! samples from parts and the buffer, and native histogram series joined alike.

mod common;

use common::*;
use tidemark_model::{
    BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, Labels, Matcher, Tenant,
};
use tidemark_storage::{
    HistogramSeries, SeriesSamples, Storage, StorageError, SELECT_BATCH_SERIES,
};

fn batched(s: &Storage, matchers: &[Matcher], start: i64, end: i64) -> Vec<Vec<SeriesSamples>> {
    let plan = s
        .select_batches(Tenant::DEFAULT, matchers, start, end)
        .expect("batched select");
    // Read out of order: batches are independent.
    let mut out: Vec<(usize, Vec<SeriesSamples>)> = (0..plan.len())
        .rev()
        .map(|i| (i, plan.read(i).expect("read batch")))
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, b)| b).collect()
}

fn whole(s: &Storage, matchers: &[Matcher], start: i64, end: i64) -> Vec<SeriesSamples> {
    s.select_with_histograms(Tenant::DEFAULT, matchers, start, end)
        .expect("select")
}

/// Host names whose write order is not their label order.
fn host(i: usize) -> String {
    format!("h{}", (i * 7919) % 1000)
}

#[test]
fn batches_are_in_label_order_and_equal_a_select_over_parts_and_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    let n = 2 * SELECT_BATCH_SERIES + 37;
    let write = |offset: i64| {
        let batch: Vec<_> = (0..n)
            .map(|i| {
                let l = labels("cpu", &[("host", &host(i))]);
                let v = i as f64;
                series(l, &[(t0 + offset, v), (t0 + offset + 10_000, v + 1.0)])
            })
            .collect();
        s.append(Tenant::DEFAULT, &batch).unwrap();
    };
    write(0);
    s.flush().unwrap();
    write(20_000); // stays in the buffer
                   // A series with samples only outside the range is left out, as in a select.
    s.append(
        Tenant::DEFAULT,
        &[series(
            labels("cpu", &[("host", "old")]),
            &[(t0 - HOUR_MS, 1.0)],
        )],
    )
    .unwrap();

    let matchers = name_is("cpu");
    let (start, end) = (t0, t0 + HOUR_MS);
    let batches = batched(&s, &matchers, start, end);
    assert_eq!(batches.len(), n.div_ceil(SELECT_BATCH_SERIES));
    assert!(batches.iter().all(|b| b.len() <= SELECT_BATCH_SERIES));
    let flat: Vec<SeriesSamples> = batches.into_iter().flatten().collect();
    let labels: Vec<&Labels> = flat.iter().map(|x| &*x.labels).collect();
    assert!(labels.windows(2).all(|w| w[0] < w[1]), "label order");
    assert!(flat.iter().all(|x| x.floats.len() == 4), "parts and buffer");
    assert_eq!(flat, whole(&s, &matchers, start, end));
}

#[test]
fn a_batch_is_read_once_and_an_empty_select_has_no_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    s.append(
        Tenant::DEFAULT,
        &[series(labels("up", &[("job", "a")]), &[(t0, 1.0)])],
    )
    .unwrap();
    let plan = s
        .select_batches(Tenant::DEFAULT, &name_is("up"), t0, t0)
        .unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(plan.read(0).unwrap().len(), 1);
    assert!(matches!(plan.read(0), Err(StorageError::Invalid(_))));
    assert!(matches!(plan.read(1), Err(StorageError::Invalid(_))));
    let none = s
        .select_batches(Tenant::DEFAULT, &name_is("missing"), t0, t0)
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn series_with_native_histograms_are_joined_as_in_a_select() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let t0 = now_ms() - HOUR_MS;
    let h = FloatHistogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 0,
        count: 2.0,
        sum: 3.0,
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![2.0],
        ..Default::default()
    };
    let hist_labels = labels("rpc", &[("job", "b")]);
    s.append_histograms(
        Tenant::DEFAULT,
        &[HistogramSeries {
            labels: hist_labels.clone(),
            samples: vec![HistogramSample {
                timestamp: t0 + 5,
                histogram: h,
            }],
        }],
    )
    .unwrap();
    s.append(
        Tenant::DEFAULT,
        &[
            series(labels("rpc", &[("job", "a")]), &[(t0, 1.0)]),
            // A float at the histogram's timestamp: the histogram wins.
            series(hist_labels, &[(t0, 2.0), (t0 + 5, 9.0)]),
        ],
    )
    .unwrap();
    let matchers = name_is("rpc");
    let (start, end) = (t0 - 1, t0 + 10);
    let flat: Vec<SeriesSamples> = batched(&s, &matchers, start, end)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(flat.len(), 2);
    assert_eq!(flat[1].histograms.len(), 1);
    assert_eq!(flat, whole(&s, &matchers, start, end));
}
