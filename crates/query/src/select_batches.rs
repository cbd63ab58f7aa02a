//! Selected series handed out in batches (see [`crate::Queryable::select_batches`]).

use std::sync::Mutex;

use crate::{QueryError, SelectedSeries};

/// The series of one select in label order, split into batches.
///
/// Batches may be read concurrently and in any order, each at most once; batch
/// `i`'s series come before batch `i + 1`'s in label order. Only series with
/// samples in the selected range are returned.
pub trait SeriesBatches: Send + Sync {
    /// How many batches there are.
    fn batch_count(&self) -> usize;

    /// How many series the batches hold at most (some may turn out to have no
    /// samples in the range): lets a reader bound its memory before reading.
    fn max_series(&self) -> usize;

    /// The series of batch `i`. Fails when `i` is out of range or was read before.
    fn read_batch(&self, i: usize) -> Result<Vec<SelectedSeries>, QueryError>;
}

/// Series per batch of [`InMemoryBatches`].
const BATCH_SERIES: usize = 256;

/// Batches of series already in memory (the default [`crate::Queryable::select_batches`]).
pub struct InMemoryBatches {
    batches: Vec<Mutex<Option<Vec<SelectedSeries>>>>,
    series: usize,
}

impl InMemoryBatches {
    /// Splits `series`, which must be in label order, into batches.
    pub fn new(series: Vec<SelectedSeries>) -> InMemoryBatches {
        let count = series.len();
        let mut series = series.into_iter().peekable();
        let mut batches = Vec::new();
        while series.peek().is_some() {
            let batch: Vec<SelectedSeries> = series.by_ref().take(BATCH_SERIES).collect();
            batches.push(Mutex::new(Some(batch)));
        }
        InMemoryBatches {
            batches,
            series: count,
        }
    }
}

impl SeriesBatches for InMemoryBatches {
    fn batch_count(&self) -> usize {
        self.batches.len()
    }

    fn max_series(&self) -> usize {
        self.series
    }

    fn read_batch(&self, i: usize) -> Result<Vec<SelectedSeries>, QueryError> {
        self.batches
            .get(i)
            .and_then(|b| b.lock().expect("batch lock").take())
            .ok_or_else(|| {
                QueryError::Internal(format!("select batch {i} does not exist or was read"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{Labels, Sample};

    #[test]
    fn batches_keep_order_and_are_read_once() {
        let series: Vec<SelectedSeries> = (0..BATCH_SERIES + 3)
            .map(|i| SelectedSeries {
                labels: Labels::from_pairs([("i", format!("{i:05}"))]).into(),
                floats: vec![Sample::new(1, i as f64)],
                ..SelectedSeries::default()
            })
            .collect();
        let batches = InMemoryBatches::new(series.clone());
        assert_eq!(batches.batch_count(), 2);
        assert_eq!(batches.max_series(), BATCH_SERIES + 3);
        let second = batches.read_batch(1).unwrap();
        let first = batches.read_batch(0).unwrap();
        assert_eq!(first.len(), BATCH_SERIES);
        let joined: Vec<SelectedSeries> = first.into_iter().chain(second).collect();
        assert_eq!(joined, series);
        assert!(batches.read_batch(0).is_err());
        assert!(batches.read_batch(2).is_err());
    }
}
