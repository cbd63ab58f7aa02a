//! The label-set rules every decoder applies before handing series on.

use tidemark_model::{is_valid_label_name, Label, Labels, METRIC_NAME};

use crate::error::{truncate_for_message, DecodeError};

/// Turns decoded label pairs into a [`Labels`], rejecting what Prometheus rejects:
/// empty label names, duplicate label names and a missing or empty `__name__`.
/// Empty values are dropped, as Prometheus treats `l=""` as an absent label.
pub(crate) fn validated_labels(mut pairs: Vec<Label>) -> Result<Labels, DecodeError> {
    pairs.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, l) in pairs.iter().enumerate() {
        if !is_valid_label_name(&l.name) {
            return Err(invalid(&pairs, "empty label name".to_string()));
        }
        if i > 0 && pairs[i - 1].name == l.name {
            return Err(invalid(
                &pairs,
                format!("duplicate label name {:?}", truncate_for_message(&l.name)),
            ));
        }
    }
    let labels = Labels::from_vec(pairs);
    match labels.get(METRIC_NAME) {
        Some(_) => Ok(labels),
        None => Err(DecodeError::MissingMetricName {
            labels: truncate_for_message(&labels.to_string()),
        }),
    }
}

/// [`validated_labels`] for borrowed pairs, in place and without allocating on
/// success: sorts `pairs` by name, applies the same checks, and moves the pairs with
/// non-empty values to the front. Returns how many pairs that is; the rest of the
/// slice is left in an unspecified order.
pub(crate) fn validate_label_refs(pairs: &mut [(&str, &str)]) -> Result<usize, DecodeError> {
    // Stable, like the owned path, so error messages name the same duplicate.
    if !pairs.is_sorted_by(|a, b| a.0 <= b.0) {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
    }
    for (i, &(name, _)) in pairs.iter().enumerate() {
        if !is_valid_label_name(name) {
            return Err(invalid_refs(pairs, "empty label name".to_string()));
        }
        if i > 0 && pairs[i - 1].0 == name {
            return Err(invalid_refs(
                pairs,
                format!("duplicate label name {:?}", truncate_for_message(name)),
            ));
        }
    }
    let mut kept = 0;
    for i in 0..pairs.len() {
        if !pairs[i].1.is_empty() {
            pairs.swap(kept, i);
            kept += 1;
        }
    }
    if pairs[..kept].iter().any(|&(name, _)| name == METRIC_NAME) {
        Ok(kept)
    } else {
        Err(DecodeError::MissingMetricName {
            labels: truncate_for_message(&owned(&pairs[..kept]).to_string()),
        })
    }
}

fn owned(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_vec(pairs.iter().map(|&(n, v)| Label::new(n, v)).collect())
}

fn invalid_refs(pairs: &[(&str, &str)], problem: String) -> DecodeError {
    DecodeError::InvalidLabel {
        labels: truncate_for_message(&owned(pairs).to_string()),
        problem,
    }
}

fn invalid(pairs: &[Label], problem: String) -> DecodeError {
    let shown = Labels::from_vec(pairs.to_vec()).to_string();
    DecodeError::InvalidLabel {
        labels: truncate_for_message(&shown),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<Label> {
        p.iter().map(|(n, v)| Label::new(*n, *v)).collect()
    }

    #[test]
    fn sorts_and_drops_empty_values() {
        let l = validated_labels(pairs(&[("job", "a"), ("__name__", "up"), ("x", "")])).unwrap();
        assert_eq!(l.to_string(), r#"up{job="a"}"#);
    }

    #[test]
    fn rejects_empty_and_duplicate_names_and_missing_metric_name() {
        let e = validated_labels(pairs(&[("__name__", "up"), ("", "v")])).unwrap_err();
        assert_eq!(e.reason(), "invalid_label");
        let e = validated_labels(pairs(&[("__name__", "up"), ("a", "1"), ("a", "2")])).unwrap_err();
        assert_eq!(e.reason(), "invalid_label");
        let e = validated_labels(pairs(&[("a", "1")])).unwrap_err();
        assert_eq!(e.reason(), "missing_metric_name");
        let e = validated_labels(pairs(&[("__name__", ""), ("a", "1")])).unwrap_err();
        assert_eq!(e.reason(), "missing_metric_name");
    }

    #[test]
    fn borrowed_validation_matches_the_owned_one() {
        let cases: &[&[(&str, &str)]] = &[
            &[("job", "a"), ("__name__", "up"), ("x", "")],
            &[("__name__", "up"), ("", "v")],
            &[("__name__", "up"), ("a", "1"), ("a", "2")],
            &[("a", "1")],
            &[("__name__", ""), ("a", "1")],
            &[("b", ""), ("__name__", "m"), ("a", "1")],
        ];
        for case in cases {
            let owned = validated_labels(pairs(case));
            let mut refs = case.to_vec();
            let borrowed = validate_label_refs(&mut refs).map(|kept| {
                let kept = &refs[..kept];
                assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
                Labels::from_pairs(kept.iter().copied())
            });
            assert_eq!(borrowed, owned, "{case:?}");
        }
    }
}
