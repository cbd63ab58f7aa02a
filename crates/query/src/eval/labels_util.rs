//! Label-set helpers shared by binary matching and aggregation.

use tidemark_model::{Label, Labels, METRIC_NAME};

/// A grouping/matching key: the selected `name\xffvalue\xff` pairs. Byte keys
/// avoid hash collisions silently merging groups.
pub(crate) type Signature = Vec<u8>;

/// Signature over the labels listed in `names` (`on(...)` / `by(...)`); a missing
/// label counts as empty, as in Prometheus.
pub(crate) fn signature_on(labels: &Labels, names: &[String]) -> Signature {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut sig = Vec::new();
    for n in sorted {
        sig.extend_from_slice(n.as_bytes());
        sig.push(0xff);
        sig.extend_from_slice(labels.get(n).unwrap_or("").as_bytes());
        sig.push(0xff);
    }
    sig
}

/// Signature over all labels except `names` and `__name__` (`ignoring(...)` /
/// `without(...)`).
pub(crate) fn signature_without(labels: &Labels, names: &[String]) -> Signature {
    let mut sig = Vec::new();
    for l in labels.iter() {
        if l.name == METRIC_NAME || names.contains(&l.name) {
            continue;
        }
        sig.extend_from_slice(l.name.as_bytes());
        sig.push(0xff);
        sig.extend_from_slice(l.value.as_bytes());
        sig.push(0xff);
    }
    sig
}

/// Only the labels named in `names`.
pub(crate) fn keep_labels(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_vec(
        labels
            .iter()
            .filter(|l| names.contains(&l.name))
            .cloned()
            .collect(),
    )
}

/// All labels except `names` and `__name__`.
pub(crate) fn drop_labels_and_name(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_vec(
        labels
            .iter()
            .filter(|l| l.name != METRIC_NAME && !names.contains(&l.name))
            .cloned()
            .collect::<Vec<Label>>(),
    )
}

/// All labels except `names`.
pub(crate) fn drop_labels(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_vec(
        labels
            .iter()
            .filter(|l| !names.contains(&l.name))
            .cloned()
            .collect(),
    )
}
