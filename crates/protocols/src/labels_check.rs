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
}
