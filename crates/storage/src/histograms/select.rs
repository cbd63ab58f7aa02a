//! Joining a select's float series with its histogram series.

use std::sync::Arc;

use tidemark_model::{HistogramSample, Labels, Sample};

use crate::query::FloatSeries;

/// The samples of one series in a time range: floats and native histograms, each
/// sorted by timestamp, never both at one timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// Shared with the storage's series registry (labels are immutable).
    pub labels: Arc<Labels>,
    pub floats: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
}

/// Merges two label-sorted lists into one label-sorted list. A float at a timestamp
/// that also holds a histogram is dropped: like Prometheus, which refuses a float
/// sample where a histogram was appended, the histogram is the series' value there.
/// The rule does not depend on write order, so it is deterministic.
pub(crate) fn join(
    floats: Vec<FloatSeries>,
    histograms: Vec<(Labels, Vec<HistogramSample>)>,
) -> Vec<SeriesSamples> {
    let mut out = Vec::with_capacity(floats.len().max(histograms.len()));
    let mut floats = floats.into_iter().peekable();
    let mut histograms = histograms.into_iter().peekable();
    loop {
        let order = match (floats.peek(), histograms.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(f), Some(h)) => (*f.labels).cmp(&h.0),
        };
        match order {
            std::cmp::Ordering::Less => {
                let f = floats.next().expect("peeked");
                out.push(SeriesSamples {
                    labels: f.labels,
                    floats: f.samples,
                    histograms: Vec::new(),
                });
            }
            std::cmp::Ordering::Greater => {
                let (labels, histograms) = histograms.next().expect("peeked");
                out.push(SeriesSamples {
                    labels: Arc::new(labels),
                    floats: Vec::new(),
                    histograms,
                });
            }
            std::cmp::Ordering::Equal => {
                let f = floats.next().expect("peeked");
                let (labels, histograms) = histograms.next().expect("peeked");
                let mut floats = f.samples;
                floats.retain(|s| {
                    histograms
                        .binary_search_by_key(&s.timestamp, |h| h.timestamp)
                        .is_err()
                });
                out.push(SeriesSamples {
                    labels: Arc::new(labels),
                    floats,
                    histograms,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::FloatHistogram;

    #[test]
    fn join_keeps_label_order_and_drops_floats_shadowed_by_histograms() {
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let c = Labels::from_pairs([("__name__", "c")]);
        let h = |t| HistogramSample {
            timestamp: t,
            histogram: FloatHistogram::default(),
        };
        let float_series = |labels: &Labels, samples| FloatSeries {
            labels: Arc::new(labels.clone()),
            samples,
        };
        let floats = vec![
            float_series(&a, vec![Sample::new(1, 1.0)]),
            float_series(&b, vec![Sample::new(1, 1.0), Sample::new(2, 2.0)]),
        ];
        let joined = join(
            floats,
            vec![(b.clone(), vec![h(2)]), (c.clone(), vec![h(5)])],
        );
        let labels: Vec<&Labels> = joined.iter().map(|s| &*s.labels).collect();
        assert_eq!(labels, vec![&a, &b, &c]);
        assert_eq!(joined[1].floats, vec![Sample::new(1, 1.0)]);
        assert_eq!(joined[1].histograms, vec![h(2)]);
        assert!(joined[2].floats.is_empty());
    }
}
