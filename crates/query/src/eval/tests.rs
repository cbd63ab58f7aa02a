//! Evaluator unit tests against a small in-memory [`Queryable`].

use tidemark_model::{Labels, Sample, TimeSeries, STALE_NAN};

use super::test_store::Mem;
use crate::{Engine, EngineOptions, QueryError, SelectedSeries, Value};

fn series(name: &str, extra: &[(&str, &str)], samples: &[(i64, f64)]) -> SelectedSeries {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(extra);
    SelectedSeries::from(TimeSeries {
        labels: Labels::from_pairs(pairs),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    })
}

fn instant(db: &Mem, q: &str, t: i64) -> Vec<(String, f64)> {
    let r = Engine::new(EngineOptions::default())
        .instant_query(db, q, t)
        .expect("query");
    match r.value {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> =
                v.into_iter().map(|s| (s.labels.to_string(), s.f)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Value::Scalar { v, .. } => vec![(String::new(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn lookback_window_is_left_open() {
    let db = Mem(vec![series("m", &[], &[(0, 1.0)])]);
    assert_eq!(instant(&db, "m", 299_999), vec![("m".into(), 1.0)]);
    assert!(
        instant(&db, "m", 300_000).is_empty(),
        "sample exactly 5m old is outside the lookback"
    );
}

#[test]
fn stale_marker_hides_series() {
    let db = Mem(vec![series(
        "m",
        &[],
        &[(0, 1.0), (60_000, STALE_NAN), (120_000, 2.0)],
    )]);
    assert!(instant(&db, "m", 90_000).is_empty());
    assert_eq!(instant(&db, "m", 120_000), vec![("m".into(), 2.0)]);
    assert_eq!(
        instant(&db, "count_over_time(m[5m])", 120_000),
        vec![("{}".into(), 2.0)]
    );
}

#[test]
fn range_window_excludes_its_start() {
    let db = Mem(vec![series(
        "m",
        &[],
        &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)],
    )]);
    assert_eq!(
        instant(&db, "count_over_time(m[1m])", 120_000),
        vec![("{}".into(), 1.0)]
    );
    assert_eq!(
        instant(&db, "last_over_time(m[2m] offset 1m)", 120_000),
        vec![("m".into(), 2.0)]
    );
    assert_eq!(instant(&db, "m @ 60", 600_000), vec![("m".into(), 2.0)]);
}

#[test]
fn one_to_one_and_group_left_matching() {
    let db = Mem(vec![
        series("a", &[("i", "1"), ("j", "x")], &[(0, 10.0)]),
        series("a", &[("i", "2"), ("j", "y")], &[(0, 20.0)]),
        series("b", &[("i", "1")], &[(0, 2.0)]),
    ]);
    assert_eq!(
        instant(&db, "a / on(i) b", 0),
        vec![(r#"{i="1"}"#.into(), 5.0)]
    );
    assert_eq!(
        instant(&db, "a / on(i) group_left b", 0),
        vec![(r#"{i="1", j="x"}"#.into(), 5.0)]
    );
    assert_eq!(
        instant(&db, "a > 15", 0),
        vec![(r#"a{i="2", j="y"}"#.into(), 20.0)]
    );
    assert_eq!(
        instant(&db, "a unless on(i) b", 0),
        vec![(r#"a{i="2", j="y"}"#.into(), 20.0)]
    );
    let err = Engine::default()
        .instant_query(&db, "a + on() b", 0)
        .unwrap_err();
    assert!(matches!(err, QueryError::Execution(_)), "{err:?}");
}

#[test]
fn aggregations_group_and_fold() {
    let db = Mem(vec![
        series("a", &[("g", "x")], &[(0, 1.0)]),
        series(
            "a",
            &[("g", "x")]
                .iter()
                .chain(&[("h", "2")])
                .copied()
                .collect::<Vec<_>>(),
            &[(0, 3.0)],
        ),
        series("a", &[("g", "y")], &[(0, 5.0)]),
    ]);
    assert_eq!(
        instant(&db, "sum by (g) (a)", 0),
        vec![(r#"{g="x"}"#.into(), 4.0), (r#"{g="y"}"#.into(), 5.0)]
    );
    assert_eq!(instant(&db, "avg(a)", 0), vec![("{}".into(), 3.0)]);
    assert_eq!(
        instant(&db, "count without (h) (a)", 0),
        vec![(r#"{g="x"}"#.into(), 2.0), (r#"{g="y"}"#.into(), 1.0)]
    );
    assert_eq!(
        instant(&db, "topk(1, a)", 0),
        vec![(r#"a{g="y"}"#.into(), 5.0)]
    );
    assert_eq!(instant(&db, "stdvar(a)", 0), vec![("{}".into(), 8.0 / 3.0)]);
}

#[test]
fn range_query_steps_and_drops_names_at_the_end() {
    let db = Mem(vec![series("m", &[], &[(0, 1.0), (60_000, 2.0)])]);
    let r = Engine::default()
        .range_query(&db, "m * 2", 0, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(
        m[0].floats.iter().map(|p| p.f).collect::<Vec<_>>(),
        vec![2.0, 4.0, 4.0]
    );
}

#[test]
fn subquery_steps_are_aligned() {
    let db = Mem(vec![series(
        "m",
        &[],
        &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)],
    )]);
    // Steps at 60s and 120s fall in (30s, 150s].
    assert_eq!(
        instant(&db, "count_over_time(m[2m:1m])", 150_000),
        vec![("{}".into(), 2.0)]
    );
}

#[test]
fn too_many_points_is_bad_data() {
    let db = Mem(vec![]);
    let err = Engine::default()
        .range_query(&db, "1", 0, 11_001_000, 1000)
        .unwrap_err();
    assert!(matches!(err, QueryError::BadData(m) if m.starts_with("exceeded maximum resolution")));
}

#[test]
fn duration_expressions_and_step_function() {
    let db = Mem(vec![series(
        "m",
        &[],
        &[(0, 1.0), (60_000, 2.0), (120_000, 3.0)],
    )]);
    assert_eq!(
        instant(&db, "count_over_time(m[1m+1m])", 120_000),
        vec![("{}".into(), 2.0)]
    );
    assert_eq!(
        instant(&db, "m offset (30+30)", 120_000),
        vec![("m".into(), 2.0)]
    );
    let r = Engine::default()
        .range_query(&db, "count_over_time(m[step()*2])", 60_000, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("matrix expected")
    };
    assert_eq!(
        m[0].floats.iter().map(|p| p.f).collect::<Vec<_>>(),
        vec![2.0, 2.0]
    );
}

#[test]
fn smoothed_selector_interpolates() {
    let db = Mem(vec![series("m", &[], &[(0, 1.0), (10_000, 2.0)])]);
    assert_eq!(instant(&db, "m smoothed", 5_000), vec![("m".into(), 1.5)]);
    assert_eq!(instant(&db, "m", 5_000), vec![("m".into(), 1.0)]);
}

#[test]
fn fill_modifier_completes_missing_sides() {
    let db = Mem(vec![
        series("a", &[("l", "x")], &[(0, 1.0)]),
        series("b", &[("l", "y")], &[(0, 10.0)]),
    ]);
    assert_eq!(
        instant(&db, "a + fill(0) b", 0),
        vec![(r#"{l="x"}"#.into(), 1.0), (r#"{l="y"}"#.into(), 10.0)]
    );
}

#[test]
fn info_adds_target_info_labels() {
    let db = Mem(vec![
        series("m", &[("instance", "i"), ("job", "j")], &[(0, 1.0)]),
        series(
            "target_info",
            &[("instance", "i"), ("job", "j"), ("region", "eu")],
            &[(0, 1.0)],
        ),
    ]);
    assert_eq!(
        instant(&db, "info(m)", 0),
        vec![(r#"m{instance="i", job="j", region="eu"}"#.into(), 1.0)]
    );
}

#[test]
fn parse_errors_and_cancellation_are_reported() {
    let db = Mem(vec![series("m", &[], &[(0, 1.0)])]);
    let err = Engine::default().instant_query(&db, "sum(", 0).unwrap_err();
    assert!(
        matches!(&err, QueryError::BadData(m) if m == "1:5: parse error: unclosed left parenthesis"),
        "{err:?}"
    );
    let ctx = crate::QueryContext::new();
    ctx.cancel();
    let err = Engine::default()
        .instant_query_with(&db, "m", 0, &ctx)
        .unwrap_err();
    assert_eq!(err, QueryError::Canceled);
}
