//! An in-memory [`Queryable`] for the evaluator's unit tests.

use tidemark_model::Matcher;

use crate::{QueryError, Queryable, SelectedSeries};

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
