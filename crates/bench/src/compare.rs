//! Cross-checks query results between systems.

use std::collections::BTreeMap;

use crate::queries::Matrix;

/// Relative tolerance for float comparisons: engines sum in different orders.
pub const RELATIVE_TOLERANCE: f64 = 1e-6;

/// How two matrix results differ; `None` from [`diff`] means they agree.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub missing_series: usize,
    pub extra_series: usize,
    /// Points present in both whose values differ beyond tolerance.
    pub differing_points: usize,
    /// Points present in only one of the two, in series both have.
    pub unmatched_points: usize,
    pub compared_points: usize,
    pub max_relative_error: f64,
    /// One concrete example, for the report.
    pub example: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} missing / {} extra series, {} of {} points differ (max rel. error {:.3e}), {} unmatched points; e.g. {}",
            self.missing_series,
            self.extra_series,
            self.differing_points,
            self.compared_points,
            self.max_relative_error,
            self.unmatched_points,
            self.example
        )
    }
}

/// Compares `other` against `reference`.
pub fn diff(reference: &Matrix, other: &Matrix) -> Option<Difference> {
    let mut d = Difference {
        missing_series: 0,
        extra_series: other.keys().filter(|k| !reference.contains_key(*k)).count(),
        differing_points: 0,
        unmatched_points: 0,
        compared_points: 0,
        max_relative_error: 0.0,
        example: String::new(),
    };
    for (labels, ref_points) in reference {
        let Some(points) = other.get(labels) else {
            d.missing_series += 1;
            note(&mut d.example, || {
                format!("series {} missing", show(labels))
            });
            continue;
        };
        let theirs: BTreeMap<i64, f64> = points.iter().copied().collect();
        let mut matched = 0;
        for &(t, want) in ref_points {
            let Some(&got) = theirs.get(&t) else {
                d.unmatched_points += 1;
                note(&mut d.example, || {
                    format!("{} at {t}: missing point (want {want})", show(labels))
                });
                continue;
            };
            matched += 1;
            d.compared_points += 1;
            let err = relative_error(want, got);
            if err > RELATIVE_TOLERANCE {
                d.differing_points += 1;
                note(&mut d.example, || {
                    format!("{} at {t}: want {want}, got {got}", show(labels))
                });
            }
            if err.is_finite() {
                d.max_relative_error = d.max_relative_error.max(err);
            }
        }
        d.unmatched_points += theirs.len() - matched;
    }
    if d.extra_series > 0 {
        if let Some(k) = other.keys().find(|k| !reference.contains_key(*k)) {
            note(&mut d.example, || format!("extra series {}", show(k)));
        }
    }
    let agree = d.missing_series == 0
        && d.extra_series == 0
        && d.differing_points == 0
        && d.unmatched_points == 0;
    (!agree).then_some(d)
}

fn note(example: &mut String, text: impl FnOnce() -> String) {
    if example.is_empty() {
        *example = text();
    }
}

fn relative_error(a: f64, b: f64) -> f64 {
    if a.is_nan() && b.is_nan() || a == b {
        return 0.0;
    }
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
        return f64::INFINITY;
    }
    (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

fn show(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(series: &[(&str, &[(i64, f64)])]) -> Matrix {
        series
            .iter()
            .map(|(l, p)| (vec![("instance".to_string(), l.to_string())], p.to_vec()))
            .collect()
    }

    #[test]
    fn equal_within_tolerance_agrees() {
        let a = matrix(&[("a", &[(1, 1.0), (2, f64::NAN)])]);
        let b = matrix(&[("a", &[(1, 1.0 + 1e-12), (2, f64::NAN)])]);
        assert_eq!(diff(&a, &b), None);
    }

    #[test]
    fn reports_every_kind_of_difference() {
        let a = matrix(&[("a", &[(1, 1.0), (2, 2.0)]), ("b", &[(1, 1.0)])]);
        let b = matrix(&[("a", &[(1, 1.1), (3, 2.0)]), ("c", &[(1, 1.0)])]);
        let d = diff(&a, &b).unwrap();
        assert_eq!(
            (d.missing_series, d.extra_series, d.differing_points),
            (1, 1, 1)
        );
        assert_eq!(d.unmatched_points, 2, "point 2 missing, point 3 extra");
        assert!((d.max_relative_error - 0.1 / 1.1).abs() < 1e-9);
        assert!(d.example.contains("want 1, got 1.1"), "{}", d.example);
    }
}
