//! Invariants every successful decode must satisfy, shared by the fuzz targets.

use tidemark_model::{TimeSeries, METRIC_NAME};

/// Decoded series must carry a metric name, non-empty sorted unique label names and
/// no empty values: the guarantees storage relies on.
pub fn check_series(series: &[TimeSeries]) {
    for s in series {
        assert!(
            s.labels.get(METRIC_NAME).is_some_and(|n| !n.is_empty()),
            "series without a metric name"
        );
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "label names not sorted and unique: {names:?}"
        );
        assert!(
            s.labels
                .iter()
                .all(|l| !l.name.is_empty() && !l.value.is_empty()),
            "empty label name or value"
        );
    }
}

/// Upper bound on the decompressed size fuzzed remote-write bodies may claim.
pub const MAX_DECODED_BYTES: usize = 4 << 20;
