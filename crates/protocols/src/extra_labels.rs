//! `extra_label=name=value` query parameters, with VictoriaMetrics semantics.

use tidemark_model::TimeSeries;

/// Sets each `(name, value)` on every series, overriding a label of the same name
/// the data already carried (VictoriaMetrics' `extra_label` semantics: the operator's
/// parameter wins over the sender). An empty value removes the label. When a name is
/// given twice, the last one wins.
pub fn apply_extra_labels(series: &mut [TimeSeries], extra: &[(String, String)]) {
    if extra.is_empty() {
        return;
    }
    for ts in series {
        let mut b = ts.labels.builder();
        for (name, value) in extra {
            b.set(name, value);
        }
        ts.labels = b.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{Labels, Sample};

    #[test]
    fn overrides_adds_and_removes() {
        let mut s = vec![TimeSeries::new(
            Labels::from_pairs([("__name__", "up"), ("job", "sender"), ("env", "x")]),
            vec![Sample::new(1, 1.0)],
        )];
        let extra = vec![
            ("job".to_string(), "operator".to_string()),
            ("dc".to_string(), "eu".to_string()),
            ("env".to_string(), String::new()),
        ];
        apply_extra_labels(&mut s, &extra);
        assert_eq!(s[0].labels.to_string(), r#"up{dc="eu", job="operator"}"#);
    }
}
