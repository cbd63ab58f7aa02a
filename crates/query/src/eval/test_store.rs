//! An in-memory [`Queryable`] for the evaluator's unit tests.

use std::collections::{BTreeMap, BTreeSet};

use tidemark_model::Matcher;

use crate::{Engine, QueryError, Queryable, SelectedSeries, Value};

/// Series held in memory; a select returns the matching series' floats inside the
/// range, leaving out series with none.
pub(super) struct Mem(pub(super) Vec<SelectedSeries>);

impl Queryable for Mem {
    fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        Ok(self
            .0
            .iter()
            .filter(|s| {
                matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|s| SelectedSeries {
                labels: s.labels.clone(),
                floats: s
                    .floats
                    .iter()
                    .filter(|x| x.timestamp >= start && x.timestamp <= end)
                    .copied()
                    .collect(),
                ..SelectedSeries::default()
            })
            .filter(|s| !s.floats.is_empty())
            .collect())
    }
}

/// A query's float results by series (labels as text), each as (time, value bits):
/// equality of bits catches any change in the arithmetic, not only large ones.
pub(super) type Points = BTreeMap<String, Vec<(i64, u64)>>;

/// A range query over `[0, end_ms]` every `step_ms`: its points and annotations.
pub(super) fn range_points(
    db: &dyn Queryable,
    q: &str,
    end_ms: i64,
    step_ms: i64,
) -> (Points, BTreeSet<String>) {
    let r = Engine::default()
        .range_query(db, q, 0, end_ms, step_ms)
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    let Value::Matrix(m) = r.value else {
        panic!("{q}: not a matrix")
    };
    let points = m
        .into_iter()
        .map(|s| {
            let pts = s.floats.iter().map(|p| (p.t, p.f.to_bits())).collect();
            (s.labels.to_string(), pts)
        })
        .collect();
    (points, r.warnings.into_iter().chain(r.infos).collect())
}

/// The same steps as [`range_points`], each evaluated as its own instant query (the
/// step-major reference); a scalar result is keyed `{}` as a range query renders it.
pub(super) fn instant_points(
    db: &dyn Queryable,
    q: &str,
    end_ms: i64,
    step_ms: i64,
) -> (Points, BTreeSet<String>) {
    let mut points: Points = BTreeMap::new();
    let mut notes = BTreeSet::new();
    for t in (0..=end_ms).step_by(step_ms as usize) {
        let r = Engine::default()
            .instant_query(db, q, t)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        match r.value {
            Value::Vector(v) => {
                for s in v {
                    points
                        .entry(s.labels.to_string())
                        .or_default()
                        .push((t, s.f.to_bits()));
                }
            }
            Value::Scalar { v, .. } => points
                .entry("{}".into())
                .or_default()
                .push((t, v.to_bits())),
            other => panic!("{q}: unexpected {other:?}"),
        }
        notes.extend(r.warnings.into_iter().chain(r.infos));
    }
    (points, notes)
}
