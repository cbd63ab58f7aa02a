//! Property tests: arbitrary series survive encode → decode in every format that has
//! an encoder, bit-exact where the format can carry the bits.

use proptest::prelude::*;
use tidemark_model::{is_stale_nan, Labels, Sample, TimeSeries, STALE_NAN};
use tidemark_protocols::{jsonline, remote_write, text};

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.:/-]{1,12}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        Just("quote \" backslash \\ newline \n".to_string()),
    ]
}

fn sample_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(STALE_NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
    ]
}

fn series() -> impl Strategy<Value = TimeSeries> {
    let name = prop_oneof!["[a-zA-Z_:][a-zA-Z0-9_:]{0,15}", label_value()];
    let labels = proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", label_value()), 0..5);
    let samples = proptest::collection::vec((any::<i64>(), sample_value()), 1..5);
    (name, labels, samples).prop_map(|(name, labels, samples)| {
        let mut pairs = vec![("__name__".to_string(), name)];
        pairs.extend(labels.into_iter().filter(|(n, _)| n != "__name__"));
        TimeSeries::new(
            Labels::from_pairs(pairs),
            samples
                .into_iter()
                .map(|(t, v)| Sample::new(t, v))
                .collect(),
        )
    })
}

/// `series` with every sample value passed through `f`.
fn map_values(series: &[TimeSeries], f: impl Fn(f64) -> f64) -> Vec<TimeSeries> {
    series
        .iter()
        .map(|s| {
            let samples = s
                .samples
                .iter()
                .map(|x| Sample::new(x.timestamp, f(x.value)))
                .collect();
            TimeSeries::new(s.labels.clone(), samples)
        })
        .collect()
}

/// The text format has one NaN spelling, so a NaN's payload (the stale marker) cannot survive it.
fn without_nan_payloads(series: &[TimeSeries]) -> Vec<TimeSeries> {
    map_values(series, |v| if v.is_nan() { f64::NAN } else { v })
}

/// proto3 omits fields equal to zero, and `-0.0 == 0.0`, so a negative zero arrives as
/// `+0.0` (Prometheus' gogo-generated code behaves the same way).
fn positive_zeros(series: &[TimeSeries]) -> Vec<TimeSeries> {
    map_values(series, |v| if v == 0.0 { 0.0 } else { v })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn remote_write_v1(batch in proptest::collection::vec(series(), 0..6)) {
        let back = remote_write::decode_v1(&remote_write::encode_v1(&batch), 1 << 24).unwrap();
        prop_assert_eq!(back.series, positive_zeros(&batch));
    }

    #[test]
    fn remote_write_v2(batch in proptest::collection::vec(series(), 0..6)) {
        let back = remote_write::decode_v2(&remote_write::encode_v2(&batch, &[]), 1 << 24).unwrap();
        prop_assert_eq!(back.request.series, positive_zeros(&batch));
    }

    #[test]
    fn jsonline(batch in proptest::collection::vec(series(), 0..6)) {
        let mut body = Vec::new();
        for s in &batch {
            jsonline::write_series(s, &mut body);
        }
        let back = jsonline::parse(&body).unwrap();
        prop_assert_eq!(&back, &batch);
        prop_assert!(back.iter().flat_map(|s| &s.samples).filter(|s| is_stale_nan(s.value)).count()
            == batch.iter().flat_map(|s| &s.samples).filter(|s| is_stale_nan(s.value)).count());
    }

    #[test]
    fn prometheus_text(batch in proptest::collection::vec(series(), 0..6)) {
        let body = text::encode(&batch, &[]);
        let back = text::parse_flavor(&body, text::Flavor::Prometheus, 0).unwrap();
        let expected: Vec<TimeSeries> = without_nan_payloads(&batch)
            .into_iter()
            .flat_map(|s| s.samples.iter().map(|x| TimeSeries::new(s.labels.clone(), vec![*x])).collect::<Vec<_>>())
            .collect();
        prop_assert_eq!(back.series, expected, "{}", body);
    }
}
