//! Label-set helpers shared by binary matching and aggregation.

use tidemark_model::{Label, Labels, METRIC_NAME};

/// A grouping/matching key: the selected `name\xffvalue\xff` pairs. Byte keys
/// avoid hash collisions silently merging groups.
pub(crate) type Signature = Vec<u8>;

/// Signature over the labels listed in `names` (`on(...)` / `by(...)`); a missing
/// label counts as empty, as in Prometheus.
pub(crate) fn signature_on(labels: &Labels, names: &[String]) -> Signature {
    let mut sig = Vec::new();
    push_signature_on(&mut sig, labels, names);
    sig
}

/// [`signature_on`] appended to `sig`, so callers can reuse one buffer.
pub(crate) fn push_signature_on(sig: &mut Signature, labels: &Labels, names: &[String]) {
    // Parsed groupings are usually already sorted and unique: skip the copy then,
    // as this runs for every element at every step.
    if names.windows(2).all(|w| w[0] < w[1]) {
        push_named_values(sig, labels, names.iter());
    } else {
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        sorted.dedup();
        push_named_values(sig, labels, sorted.into_iter());
    }
}

fn push_named_values<'n>(
    sig: &mut Signature,
    labels: &Labels,
    names: impl Iterator<Item = &'n String>,
) {
    for n in names {
        sig.extend_from_slice(n.as_bytes());
        sig.push(0xff);
        sig.extend_from_slice(labels.get(n).unwrap_or("").as_bytes());
        sig.push(0xff);
    }
}

/// Signature over all labels except `names` and `__name__` (`ignoring(...)` /
/// `without(...)`).
pub(crate) fn signature_without(labels: &Labels, names: &[String]) -> Signature {
    let mut sig = Vec::new();
    push_signature_without(&mut sig, labels, names);
    sig
}

/// [`signature_without`] appended to `sig`, so callers can reuse one buffer.
pub(crate) fn push_signature_without(sig: &mut Signature, labels: &Labels, names: &[String]) {
    for l in labels.iter() {
        if l.name == METRIC_NAME || names.contains(&l.name) {
            continue;
        }
        sig.extend_from_slice(l.name.as_bytes());
        sig.push(0xff);
        sig.extend_from_slice(l.value.as_bytes());
        sig.push(0xff);
    }
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
