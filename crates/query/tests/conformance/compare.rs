//! Result comparison with upstream's verdicts (FORMAT.md §5.3, §5.7).

use std::collections::HashMap;

use tidemark_model::{is_stale_nan, FloatHistogram, Labels};
use tidemark_query::{InstantSample, RangeSeries, Value};

use super::histogram::{bucket_map, HistogramValue};
use super::script::{EvalCmd, EvalMode, Expected};
use super::series::Slot;

/// Relative tolerance of the newest harness.
pub const EPSILON: f64 = 1e-6;
/// The smallest positive normal `f64`.
const MIN_NORMAL: f64 = 2.2250738585072014e-308;

/// `util/almost.Equal` of the newest harness, rule by rule (FORMAT.md §5.7).
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Compares histograms after dropping empty buckets (upstream compacts both sides).
pub fn histograms_match(expected: &HistogramValue, actual: &FloatHistogram) -> Result<(), String> {
    let e = &expected.h;
    let eq = |x: f64, y: f64| almost_equal(x, y, EPSILON);
    if e.schema != actual.schema {
        return Err(format!("schema {} != {}", e.schema, actual.schema));
    }
    if !eq(e.count, actual.count) || !eq(e.sum, actual.sum) {
        return Err(format!(
            "count/sum {}/{} != {}/{}",
            e.count, e.sum, actual.count, actual.sum
        ));
    }
    if e.schema == -53 && e.custom_values != actual.custom_values {
        return Err(format!(
            "custom bounds {:?} != {:?}",
            e.custom_values, actual.custom_values
        ));
    }
    if e.zero_threshold != actual.zero_threshold || !eq(e.zero_count, actual.zero_count) {
        return Err("zero bucket differs".to_string());
    }
    let non_empty = |spans, counts| {
        let mut m = bucket_map(spans, counts);
        m.retain(|_, c| *c != 0.0);
        m
    };
    for (name, es, ec, as_, ac) in [
        (
            "positive",
            &e.positive_spans,
            &e.positive_buckets,
            &actual.positive_spans,
            &actual.positive_buckets,
        ),
        (
            "negative",
            &e.negative_spans,
            &e.negative_buckets,
            &actual.negative_spans,
            &actual.negative_buckets,
        ),
    ] {
        let (em, am) = (non_empty(es, ec), non_empty(as_, ac));
        if em.len() != am.len()
            || em
                .iter()
                .zip(&am)
                .any(|((ei, ev), (ai, av))| ei != ai || !eq(*ev, *av))
        {
            return Err(format!("{name} buckets {em:?} != {am:?}"));
        }
    }
    if let Some(hint) = expected.hint {
        let want = super::histogram::model_hint(hint);
        if want != actual.counter_reset_hint {
            return Err(format!(
                "counter reset hint {want:?} != {:?}",
                actual.counter_reset_hint
            ));
        }
    }
    Ok(())
}

/// One expected series: its slots and its 1-based position among the series lines.
struct ExpectedSeries<'a> {
    position: usize,
    slots: &'a [Slot],
}

fn expected_series(cmd: &EvalCmd) -> HashMap<&Labels, ExpectedSeries<'_>> {
    let mut map = HashMap::new();
    if let Expected::Series(list) = &cmd.expected {
        for (i, s) in list.iter().enumerate() {
            map.insert(
                &s.labels,
                ExpectedSeries {
                    position: i + 1,
                    slots: &s.slots,
                },
            );
        }
    }
    map
}

fn slot_text(slot: &Slot) -> String {
    match slot {
        Slot::Gap => "_".to_string(),
        Slot::Float(f) => f.to_string(),
        Slot::Histogram(h) => format!("{:?}", h.h),
    }
}

/// Compares a query result with the statement's expectations.
pub fn compare_result(cmd: &EvalCmd, value: &Value) -> Result<(), String> {
    match value {
        Value::Matrix(m) => compare_matrix(cmd, m),
        Value::Vector(v) => compare_vector(cmd, v),
        Value::Scalar { v, .. } => compare_scalar(cmd, *v),
        Value::String { v, .. } => {
            let want = match &cmd.expected {
                Expected::String(s) => s.as_str(),
                _ => "",
            };
            if want == v {
                Ok(())
            } else {
                Err(format!("expected string {want:?} but got {v:?}"))
            }
        }
    }
}

pub fn compare_scalar(cmd: &EvalCmd, v: f64) -> Result<(), String> {
    match cmd.expected {
        Expected::Scalar(want) if almost_equal(want, v, EPSILON) => Ok(()),
        Expected::Scalar(want) => Err(format!("expected scalar {want} but got {v}")),
        _ => Err(format!(
            "expected vector or matrix result, but got scalar {v}"
        )),
    }
}

pub fn compare_vector(cmd: &EvalCmd, got: &[InstantSample]) -> Result<(), String> {
    if matches!(cmd.expected, Expected::Scalar(_)) {
        return Err(format!(
            "expected scalar result, but got a vector of {} samples",
            got.len()
        ));
    }
    let expected = expected_series(cmd);
    let mut seen = 0usize;
    let mut seen_labels: Vec<&Labels> = Vec::new();
    for (pos, s) in got.iter().enumerate() {
        let Some(exp) = expected.get(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has value {}",
                s.labels,
                sample_text(s)
            ));
        };
        if cmd.ordered && exp.position != pos + 1 {
            return Err(format!(
                "expected metric {} at position {} but was at {}",
                s.labels,
                exp.position,
                pos + 1
            ));
        }
        let slot = exp
            .slots
            .first()
            .ok_or_else(|| format!("no expected value for {}", s.labels))?;
        match (slot, &s.h) {
            (Slot::Histogram(eh), Some(h)) => {
                histograms_match(eh, h)
                    .map_err(|e| format!("histogram for {} differs: {e}", s.labels))?;
            }
            (Slot::Histogram(_), None) => {
                return Err(format!(
                    "expected a histogram for {} but got float {}",
                    s.labels, s.f
                ))
            }
            (_, Some(_)) => {
                return Err(format!(
                    "expected float {} for {} but got a histogram",
                    slot_text(slot),
                    s.labels
                ))
            }
            (Slot::Float(want), None) => {
                if !almost_equal(*want, s.f, EPSILON) {
                    return Err(format!("expected {want} for {} but got {}", s.labels, s.f));
                }
            }
            (Slot::Gap, None) => {
                return Err(format!(
                    "expected no value for {} but got {}",
                    s.labels, s.f
                ))
            }
        }
        if !seen_labels.contains(&&s.labels) {
            seen_labels.push(&s.labels);
            seen += 1;
        }
    }
    if seen != expected.len() {
        let missing: Vec<String> = expected
            .keys()
            .filter(|l| !seen_labels.contains(l))
            .map(|l| l.to_string())
            .collect();
        return Err(format!(
            "expected metrics not found: {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

fn sample_text(s: &InstantSample) -> String {
    match &s.h {
        Some(h) => format!("{h:?}"),
        None => s.f.to_string(),
    }
}

/// Prometheus requires matrices sorted by label set.
pub fn check_matrix_sorted(m: &[RangeSeries]) -> Result<(), String> {
    for w in m.windows(2) {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "matrix is not sorted by labels: {} before {}",
                w[0].labels, w[1].labels
            ));
        }
    }
    Ok(())
}

/// The expected point grid `(start, end, step)` for a matrix result.
fn matrix_grid(cmd: &EvalCmd) -> (i64, i64, i64) {
    match (cmd.mode, cmd.range_vector) {
        (_, Some(r)) => (r.start_ms, r.end_ms, r.step_ms),
        (
            EvalMode::Range {
                start_ms,
                end_ms,
                step_ms,
            },
            None,
        ) => (start_ms, end_ms, step_ms),
        (EvalMode::Instant { at_ms }, None) => (at_ms, at_ms, 0),
    }
}

pub fn compare_matrix(cmd: &EvalCmd, got: &[RangeSeries]) -> Result<(), String> {
    if cmd.ordered {
        return Err("expected ordered result, but query returned a matrix".to_string());
    }
    if matches!(cmd.expected, Expected::Scalar(_)) {
        return Err("expected scalar result, but got a matrix".to_string());
    }
    check_matrix_sorted(got)?;
    let expected = expected_series(cmd);
    let (start, end, step) = matrix_grid(cmd);
    let mut seen: Vec<&Labels> = Vec::new();
    for s in got {
        let Some(exp) = expected.get(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result with {} float points",
                s.labels,
                s.floats.len()
            ));
        };
        seen.push(&s.labels);
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for (i, slot) in exp.slots.iter().enumerate() {
            let t = start + i as i64 * step;
            if t > end {
                return Err(format!(
                    "expected {} points for {}, but the time range cannot hold them",
                    exp.slots.len(),
                    s.labels
                ));
            }
            match slot {
                Slot::Float(f) => floats.push((t, *f)),
                Slot::Histogram(h) => hists.push((t, h)),
                Slot::Gap => {}
            }
        }
        if floats.len() != s.floats.len() || hists.len() != s.histograms.len() {
            return Err(format!(
                "expected {} float and {} histogram points for {}, got {} and {}: {:?}",
                floats.len(),
                hists.len(),
                s.labels,
                s.floats.len(),
                s.histograms.len(),
                s.floats.iter().map(|p| (p.t, p.f)).collect::<Vec<_>>()
            ));
        }
        for ((t, want), p) in floats.iter().zip(&s.floats) {
            if *t != p.t {
                return Err(format!(
                    "expected a point at t={t} for {}, got t={}",
                    s.labels, p.t
                ));
            }
            if !almost_equal(*want, p.f, EPSILON) {
                return Err(format!(
                    "expected {want} at t={t} for {} but got {}",
                    s.labels, p.f
                ));
            }
        }
        for ((t, want), p) in hists.iter().zip(&s.histograms) {
            if *t != p.t {
                return Err(format!(
                    "expected a histogram at t={t} for {}, got t={}",
                    s.labels, p.t
                ));
            }
            histograms_match(want, &p.h)
                .map_err(|e| format!("histogram at t={t} for {} differs: {e}", s.labels))?;
        }
    }
    if let Some(missing) = expected.keys().find(|l| !seen.contains(l)) {
        return Err(format!("expected metric {missing} not found"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::STALE_NAN;

    #[test]
    fn float_rules_of_format_5_7() {
        let e = EPSILON;
        assert!(almost_equal(STALE_NAN, STALE_NAN, e));
        assert!(
            !almost_equal(STALE_NAN, f64::NAN, e),
            "rule 1: stale only equals stale"
        );
        assert!(almost_equal(f64::NAN, -f64::NAN, e), "rule 2: any NaNs");
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, e));
        assert!(almost_equal(-0.0, 0.0, e));
        assert!(!almost_equal(f64::INFINITY, 1e308, e));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, e));
        assert!(!almost_equal(f64::NAN, 1.0, e));
        assert!(
            !almost_equal(0.0, 1e-300, e),
            "rule 4: zero needs (almost) exact zero"
        );
        assert!(
            almost_equal(0.0, 1e-320, e),
            "difference far below epsilon*minNormal"
        );
        assert!(almost_equal(1.0, 1.0 + 1e-7, e));
        assert!(!almost_equal(1.0, 1.0 + 3e-6, e));
        assert!(almost_equal(1e300, 1e300 * (1.0 + 1e-7), e));
        assert!(
            almost_equal(f64::MAX, f64::MAX * (1.0 - 1e-9), e),
            "sum overflow is capped at MaxFloat64"
        );
    }

    #[test]
    fn histogram_comparison_ignores_empty_buckets() {
        use tidemark_model::BucketSpan;
        let mut a = FloatHistogram {
            count: 3.0,
            sum: 1.0,
            ..FloatHistogram::default()
        };
        a.positive_spans = vec![BucketSpan {
            offset: 0,
            length: 3,
        }];
        a.positive_buckets = vec![1.0, 0.0, 2.0];
        let mut b = a.clone();
        b.positive_spans = vec![
            BucketSpan {
                offset: 0,
                length: 1,
            },
            BucketSpan {
                offset: 1,
                length: 1,
            },
        ];
        b.positive_buckets = vec![1.0, 2.0];
        let hv = HistogramValue {
            h: a.clone(),
            hint: None,
        };
        assert!(histograms_match(&hv, &b).is_ok());
        b.positive_buckets[1] = 2.5;
        assert!(histograms_match(&hv, &b).is_err());
        b.schema = 1;
        assert!(histograms_match(&hv, &b).is_err());
    }
}
