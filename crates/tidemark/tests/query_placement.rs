//! Cheap queries run inline on the request's thread once the server has seen them
//! cost little; costly ones keep running on the compute pool. Either way the answer
//! is the same. Checked through `tidemark_query_evaluations_total{placement}`.

mod common;

use common::{client, now_ms, series, Tidemark};

const INLINE: &str = "tidemark_query_evaluations_total{placement=\"inline\"}";
const POOL: &str = "tidemark_query_evaluations_total{placement=\"pool\"}";

fn range_body(
    tm: &Tidemark,
    expr: &str,
    start_ms: i64,
    end_ms: i64,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let secs = |ms: i64| format!("{}", ms as f64 / 1000.0);
    let (start, end) = (secs(start_ms), secs(end_ms));
    let mut params = vec![
        ("query", expr),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", "15"),
    ];
    params.extend_from_slice(extra);
    let resp = client()
        .get(tm.url("/api/v1/query_range"))
        .query(&params)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn repeated_cheap_queries_run_inline_with_the_same_answer_and_costly_ones_do_not() {
    let tm = Tidemark::start(&[]);
    let end = now_ms() / 1000 * 1000;
    let start = end - 20 * 60_000;
    let batch: Vec<_> = (0..300)
        .map(|i| {
            let instance = format!("host-{i}");
            let samples: Vec<(i64, f64)> = (0..=80)
                .map(|k| (start + k * 15_000, (k * (i % 5 + 1)) as f64))
                .collect();
            series(
                &[("__name__", "place_total"), ("instance", instance.as_str())],
                &samples,
            )
        })
        .collect();
    tm.remote_write(&batch);

    // The first run has no recorded cost and goes to the pool; later runs of a query
    // this small go inline. On a loaded machine one run may exceed the inline budget,
    // so only some of them are required to.
    let cheap = "sum(rate(place_total{instance=\"host-7\"}[5m]))";
    let (status, first) = range_body(&tm, cheap, start, end, &[]);
    assert_eq!(status, 200, "{first}");
    assert!(first.contains("\"values\":[["), "{first}");
    assert_eq!(tm.metric(POOL), 1.0);
    assert_eq!(tm.metric(INLINE), 0.0);
    for _ in 0..20 {
        assert_eq!(
            range_body(&tm, cheap, start, end, &[]),
            (200, first.clone())
        );
    }
    let inline = tm.metric(INLINE);
    assert!(inline >= 1.0, "no repeated cheap query ran inline");
    assert_eq!(inline + tm.metric(POOL), 21.0);

    // A query that runs into its timeout is costly every time: it never goes inline.
    let heavy = "max(max_over_time(rate(place_total[5m])[30d:1s]))";
    for _ in 0..2 {
        let (status, body) = range_body(&tm, heavy, end, end, &[("timeout", "300ms")]);
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(tm.metric(INLINE), inline);
    assert_eq!(tm.metric(POOL), 21.0 - inline + 2.0);
}
