//! Zero-copy decoding of remote write 1.0 (`prometheus.WriteRequest`).
//!
//! Label names and values stay `&str` slices of the decompressed body (UTF-8 checked
//! once) and all samples of a request share one `Vec`, so decoding a request costs a
//! handful of allocations instead of two `String`s per label and two `Vec`s per series.
//! Ingestion then looks series up by these borrowed labels and builds owned
//! [`tidemark_model::Labels`] only for series it has never seen.
//!
//! Why a hand-written decoder instead of prost (which Tidemark uses everywhere else):
//! prost's generated types own their strings, and the owned decode plus label
//! validation was where ingestion spent most of its allocator time. Measured with
//! `cargo bench -p tidemark-protocols --bench remote_write_v1` (one request of 1,000
//! node_exporter-like series, 9 labels each; 2 CPUs under heavy load from other builds,
//! so only the ratio is meaningful; details in docs/benchmarks.md, "Remote write 1.0
//! ingest path"):
//!
//! | decoder | median per request |
//! |---|---:|
//! | [`decode_v1`](super::decode_v1): snappy, prost, owned validated labels | 5.76 ms |
//! | [`decode_v1_borrowed`]: snappy into a new buffer, borrowed validated labels | 1.25 ms |
//!
//! Its acceptance rules follow prost's exactly; the tests below and the
//! `remote_write_v1` fuzz target compare the two on arbitrary input.

use tidemark_model::{Label, Labels, MetricMetadata, Sample, TimeSeries};

use super::metric_type_from_proto;
use super::pb_reader::{PbReader, WireType, RECURSION_LIMIT};
use crate::labels_check::validate_label_refs;
use crate::{DecodeError, WriteRequest};

/// One label pair borrowed from the request body: `(name, value)`.
pub type LabelRef<'a> = (&'a str, &'a str);

/// A decoded remote write 1.0 request whose labels borrow from the body.
///
/// Every series has at least one float sample and validated labels in the
/// [`Labels`] form: sorted by name, names unique and non-empty, no empty values, a
/// non-empty `__name__`.
#[derive(Debug, Default)]
pub struct WriteRequestBorrowed<'a> {
    /// All series' labels, back to back.
    labels: Vec<LabelRef<'a>>,
    /// All series' samples, back to back.
    samples: Vec<Sample>,
    /// Per series: where its labels and samples end in the two vectors above.
    ends: Vec<SeriesEnds>,
    /// Metric-family metadata sent alongside (owned: it is rare and small).
    pub metadata: Vec<MetricMetadata>,
    /// Whether some series has native histograms (field 4, which this decoder skips).
    carries_histograms: bool,
}

#[derive(Debug, Clone, Copy)]
struct SeriesEnds {
    labels: usize,
    samples: usize,
}

impl<'a> WriteRequestBorrowed<'a> {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether any series of the request (including ones left out for having no float
    /// samples) carries native histograms, which
    /// [`decode_v1_histograms`](super::decode_v1_histograms) decodes. Float-only
    /// requests, the usual case, can skip that second pass over the body.
    pub fn carries_histograms(&self) -> bool {
        self.carries_histograms
    }

    /// Total number of float samples.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Each series' labels and samples, in request order.
    pub fn series(&self) -> impl ExactSizeIterator<Item = (&[LabelRef<'a>], &[Sample])> + '_ {
        let mut start = SeriesEnds {
            labels: 0,
            samples: 0,
        };
        self.ends.iter().map(move |&end| {
            let item = (
                &self.labels[start.labels..end.labels],
                &self.samples[start.samples..end.samples],
            );
            start = end;
            item
        })
    }

    /// Applies `extra_label` parameters with the semantics of
    /// [`apply_extra_labels`](crate::apply_extra_labels): each pair overrides a label of
    /// the same name, an empty value removes it, the last of repeated names wins.
    pub fn apply_extra_labels(&mut self, extra: &'a [(String, String)]) {
        if extra.is_empty() {
            return;
        }
        let mut labels = Vec::with_capacity(self.labels.len() + self.ends.len() * extra.len());
        let mut start = 0;
        for end in &mut self.ends {
            let first = labels.len();
            labels.extend(
                self.labels[start..end.labels]
                    .iter()
                    .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name)),
            );
            for (i, (name, value)) in extra.iter().enumerate() {
                let overridden_later = extra[i + 1..].iter().any(|(n, _)| n == name);
                if !value.is_empty() && !overridden_later {
                    labels.push((name.as_str(), value.as_str()));
                }
            }
            labels[first..].sort_unstable_by(|a, b| a.0.cmp(b.0));
            start = end.labels;
            end.labels = labels.len();
        }
        self.labels = labels;
    }

    /// The owned form, for callers that keep the series beyond the body's lifetime.
    pub fn to_owned_request(&self) -> WriteRequest {
        let series = self
            .series()
            .map(|(labels, samples)| {
                let labels = labels
                    .iter()
                    .map(|&(name, value)| Label::new(name, value))
                    .collect();
                TimeSeries::new(Labels::from_vec(labels), samples.to_vec())
            })
            .collect();
        WriteRequest {
            series,
            metadata: self.metadata.clone(),
        }
    }
}

/// Decodes an already decompressed `prometheus.WriteRequest` without copying labels.
///
/// Same rules as [`decode_v1`](super::decode_v1): the whole message is parsed first
/// (so a protobuf error anywhere wins over a label error), then every series' labels
/// are validated and series without float samples are left out.
pub fn decode_v1_borrowed(raw: &[u8]) -> Result<WriteRequestBorrowed<'_>, DecodeError> {
    let mut req = parse(raw)?;
    validate_and_compact(&mut req)?;
    for m in &req.metadata {
        if m.metric_family.is_empty() {
            return Err(DecodeError::InvalidRequest(
                "metadata entry without a metric family name".into(),
            ));
        }
    }
    Ok(req)
}

/// prost's recursion budget for the fields of a message nested `depth` levels deep.
fn depth_left(depth: u32) -> u32 {
    RECURSION_LIMIT - depth
}

fn parse(raw: &[u8]) -> Result<WriteRequestBorrowed<'_>, DecodeError> {
    let mut req = WriteRequestBorrowed::default();
    let mut r = PbReader::new(raw);
    while r.has_remaining() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                parse_series(r.bytes()?, &mut req)?;
            }
            3 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                req.metadata.push(parse_metadata(r.bytes()?)?);
            }
            _ => r.skip(field, wire_type, depth_left(0))?,
        }
    }
    Ok(req)
}

/// `prometheus.TimeSeries.histograms`.
const HISTOGRAMS_FIELD: u32 = 4;

fn parse_series<'a>(raw: &'a [u8], req: &mut WriteRequestBorrowed<'a>) -> Result<(), DecodeError> {
    let mut r = PbReader::new(raw);
    while r.has_remaining() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                req.labels.push(parse_label(r.bytes()?)?);
            }
            2 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                req.samples.push(parse_sample(r.bytes()?)?);
            }
            HISTOGRAMS_FIELD => {
                req.carries_histograms = true;
                r.skip(field, wire_type, depth_left(1))?;
            }
            _ => r.skip(field, wire_type, depth_left(1))?,
        }
    }
    req.ends.push(SeriesEnds {
        labels: req.labels.len(),
        samples: req.samples.len(),
    });
    Ok(())
}

fn parse_label(raw: &[u8]) -> Result<LabelRef<'_>, DecodeError> {
    if let Some(label) = parse_plain_label(raw) {
        return Ok(label);
    }
    let (mut name, mut value) = ("", "");
    let mut r = PbReader::new(raw);
    while r.has_remaining() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                name = r.str()?;
            }
            2 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                value = r.str()?;
            }
            _ => r.skip(field, wire_type, depth_left(2))?,
        }
    }
    Ok((name, value))
}

/// The encoding nearly every sender uses for a label: `name` (field 1) then `value`
/// (field 2), each under 128 bytes, nothing else. Its four framing bytes (two keys, two
/// one-byte lengths) are ASCII, so the message is valid UTF-8 exactly when both strings
/// are, and one UTF-8 check of the whole message replaces two field-by-field parses.
/// Anything else, including invalid UTF-8, is `None` and goes the general way, which
/// decides acceptance and errors.
fn parse_plain_label(raw: &[u8]) -> Option<LabelRef<'_>> {
    const NAME_KEY: u8 = 1 << 3 | 2;
    const VALUE_KEY: u8 = 2 << 3 | 2;
    let [NAME_KEY, name_len, rest @ ..] = raw else {
        return None;
    };
    let name_len = usize::from(*name_len);
    let [VALUE_KEY, value_len, value @ ..] = rest.get(name_len..)? else {
        return None;
    };
    if name_len >= 0x80 || *value_len >= 0x80 || value.len() != usize::from(*value_len) {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    // Both ranges start and end next to an ASCII framing byte or at the end: char
    // boundaries, so the slicing cannot fail.
    Some((&text[2..2 + name_len], &text[4 + name_len..]))
}

fn parse_sample(raw: &[u8]) -> Result<Sample, DecodeError> {
    if let Some(sample) = parse_plain_sample(raw) {
        return Ok(sample);
    }
    let (mut value, mut timestamp) = (0.0, 0);
    let mut r = PbReader::new(raw);
    while r.has_remaining() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                PbReader::expect(wire_type, WireType::SixtyFourBit)?;
                value = f64::from_bits(r.fixed64()?);
            }
            2 => {
                PbReader::expect(wire_type, WireType::Varint)?;
                timestamp = r.varint()? as i64;
            }
            _ => r.skip(field, wire_type, depth_left(2))?,
        }
    }
    Ok(Sample::new(timestamp, value))
}

/// The layout senders use for a sample with a non-zero value and timestamp: `value`
/// (field 1, 8 bytes) then `timestamp` (field 2, a varint that ends the message).
/// Anything else is `None` and goes the general way.
fn parse_plain_sample(raw: &[u8]) -> Option<Sample> {
    const VALUE_KEY: u8 = 1 << 3 | 1;
    const TIMESTAMP_KEY: u8 = 2 << 3;
    let [VALUE_KEY, v0, v1, v2, v3, v4, v5, v6, v7, TIMESTAMP_KEY, timestamp @ ..] = raw else {
        return None;
    };
    let mut r = PbReader::new(timestamp);
    let timestamp = r.varint().ok()? as i64;
    if r.has_remaining() {
        return None;
    }
    let value = f64::from_bits(u64::from_le_bytes([*v0, *v1, *v2, *v3, *v4, *v5, *v6, *v7]));
    Some(Sample::new(timestamp, value))
}

fn parse_metadata(raw: &[u8]) -> Result<MetricMetadata, DecodeError> {
    let (mut metric_type, mut family, mut help, mut unit) = (0i32, "", "", "");
    let mut r = PbReader::new(raw);
    while r.has_remaining() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                PbReader::expect(wire_type, WireType::Varint)?;
                metric_type = r.varint()? as i32;
            }
            2 | 4 | 5 => {
                PbReader::expect(wire_type, WireType::LengthDelimited)?;
                let s = r.str()?;
                match field {
                    2 => family = s,
                    4 => help = s,
                    _ => unit = s,
                }
            }
            _ => r.skip(field, wire_type, depth_left(1))?,
        }
    }
    Ok(MetricMetadata {
        metric_family: family.to_string(),
        metric_type: metric_type_from_proto(metric_type),
        help: help.to_string(),
        unit: unit.to_string(),
    })
}

/// Validates every series' labels in place (sorting them, dropping empty values) and
/// removes series without samples, moving the survivors' labels and samples down.
fn validate_and_compact(req: &mut WriteRequestBorrowed<'_>) -> Result<(), DecodeError> {
    let (mut label_start, mut sample_start) = (0, 0);
    let (mut labels_out, mut samples_out, mut series_out) = (0, 0, 0);
    for i in 0..req.ends.len() {
        let end = req.ends[i];
        let kept = validate_label_refs(&mut req.labels[label_start..end.labels])?;
        let n_samples = end.samples - sample_start;
        if n_samples > 0 {
            req.labels
                .copy_within(label_start..label_start + kept, labels_out);
            req.samples
                .copy_within(sample_start..end.samples, samples_out);
            labels_out += kept;
            samples_out += n_samples;
            req.ends[series_out] = SeriesEnds {
                labels: labels_out,
                samples: samples_out,
            };
            series_out += 1;
        }
        label_start = end.labels;
        sample_start = end.samples;
    }
    req.labels.truncate(labels_out);
    req.samples.truncate(samples_out);
    req.ends.truncate(series_out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{proto_v1 as pb, v1::decode_v1};
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    fn label(name: &str, value: &str) -> pb::Label {
        pb::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn request(series: Vec<(Vec<pb::Label>, Vec<(i64, f64)>)>) -> Vec<u8> {
        pb::WriteRequest {
            timeseries: series
                .into_iter()
                .map(|(labels, samples)| pb::TimeSeries {
                    labels,
                    samples: samples
                        .into_iter()
                        .map(|(timestamp, value)| pb::Sample { value, timestamp })
                        .collect(),
                })
                .collect(),
            metadata: vec![],
        }
        .encode_to_vec()
    }

    /// What prost plus the owned validation make of `raw`, for comparison.
    fn via_prost(raw: &[u8]) -> Result<WriteRequest, String> {
        let body = snap::raw::Encoder::new().compress_vec(raw).unwrap();
        decode_v1(&body, usize::MAX).map_err(|e| e.reason().to_string())
    }

    fn via_borrowed(raw: &[u8]) -> Result<WriteRequest, String> {
        decode_v1_borrowed(raw)
            .map(|r| r.to_owned_request())
            .map_err(|e| e.reason().to_string())
    }

    #[test]
    fn sorts_labels_drops_empty_values_and_sampleless_series() {
        let raw = request(vec![
            (
                vec![label("job", "a"), label("__name__", "up"), label("x", "")],
                vec![(1, 1.0), (2, 2.0)],
            ),
            (vec![label("__name__", "no_samples")], vec![]),
            (vec![label("__name__", "b")], vec![(3, 3.0)]),
        ]);
        let req = decode_v1_borrowed(&raw).unwrap();
        assert_eq!(req.len(), 2);
        assert_eq!(req.sample_count(), 3);
        let got: Vec<_> = req.series().collect();
        assert_eq!(got[0].0, &[("__name__", "up"), ("job", "a")]);
        assert_eq!(got[0].1, &[Sample::new(1, 1.0), Sample::new(2, 2.0)]);
        assert_eq!(got[1].0, &[("__name__", "b")]);
        assert_eq!(got[1].1, &[Sample::new(3, 3.0)]);
    }

    #[test]
    fn label_errors_match_the_owned_decoder() {
        for labels in [
            vec![label("job", "a")],
            vec![label("__name__", ""), label("a", "1")],
            vec![label("__name__", "x"), label("a", "1"), label("a", "2")],
            vec![label("__name__", "x"), label("", "v")],
        ] {
            let raw = request(vec![(labels, vec![])]);
            assert!(via_borrowed(&raw).is_err());
            assert_eq!(via_borrowed(&raw), via_prost(&raw));
        }
    }

    #[test]
    fn labels_off_the_plain_layout_decode_like_prost() {
        let long = "v".repeat(200); // a two-byte length
        let ok = request(vec![(
            vec![
                label("__name__", "m"),
                label("é_name", "välue ✓"),
                label("long", &long),
                label("z", ""),
            ],
            vec![(1, 1.0)],
        )]);
        assert_eq!(via_borrowed(&ok), via_prost(&ok));
        let got = via_borrowed(&ok).unwrap();
        assert_eq!(got.series[0].labels.get("long"), Some(long.as_str()));
        assert_eq!(got.series[0].labels.get("é_name"), Some("välue ✓"));
        // Value first, then name: not the plain layout, same result.
        let swapped = {
            let mut l = Vec::new();
            l.extend_from_slice(&[0x12, 1, b'v', 0x0a, 1, b'n']);
            let mut ts = vec![0x0a, l.len() as u8];
            ts.extend_from_slice(&l);
            ts.extend_from_slice(&[0x12, 11, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 1]);
            let mut req = vec![0x0a, ts.len() as u8];
            req.extend_from_slice(&ts);
            req
        };
        assert_eq!(via_borrowed(&swapped), via_prost(&swapped));
        assert!(via_borrowed(&swapped).is_err(), "no __name__");
        // Invalid UTF-8 in a plain-layout label fails as prost fails.
        let mut bad = request(vec![(vec![label("__name__", "mx")], vec![(1, 1.0)])]);
        let at = bad.iter().rposition(|&b| b == b'x').unwrap();
        bad[at] = 0xff;
        assert_eq!(via_borrowed(&bad), via_prost(&bad));
        assert!(via_borrowed(&bad).is_err());
    }

    #[test]
    fn samples_off_the_plain_layout_decode_like_prost() {
        // Zero value and timestamp are omitted fields; -5 is a ten-byte varint.
        let samples = vec![(0, 0.0), (-5, 1.5), (1_700_000_000_000, 2.0), (7, 0.0)];
        let ok = request(vec![(vec![label("__name__", "m")], samples.clone())]);
        assert_eq!(via_borrowed(&ok), via_prost(&ok));
        let got: Vec<(i64, f64)> = via_borrowed(&ok).unwrap().series[0]
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(got, samples);
        // Timestamp before value, and a value field repeated after the timestamp.
        for sample in [
            vec![0x10, 3, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
            vec![
                0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 3, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40,
            ],
        ] {
            let label = [
                0x0a, 8, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 1, b'm',
            ];
            let mut ts = vec![0x0a, label.len() as u8];
            ts.extend_from_slice(&label);
            ts.extend_from_slice(&[0x12, sample.len() as u8]);
            ts.extend_from_slice(&sample);
            let mut req = vec![0x0a, ts.len() as u8];
            req.extend_from_slice(&ts);
            assert_eq!(via_borrowed(&req), via_prost(&req), "{sample:?}");
            assert_eq!(
                via_borrowed(&req).unwrap().series[0].samples[0].timestamp,
                3
            );
        }
    }

    #[test]
    fn extra_labels_override_add_and_remove() {
        let raw = request(vec![(
            vec![
                label("__name__", "up"),
                label("job", "sender"),
                label("env", "x"),
            ],
            vec![(1, 1.0)],
        )]);
        let extra = vec![
            ("job".to_string(), "operator".to_string()),
            ("dc".to_string(), "eu".to_string()),
            ("env".to_string(), String::new()),
            ("dc".to_string(), "us".to_string()),
        ];
        let mut req = decode_v1_borrowed(&raw).unwrap();
        req.apply_extra_labels(&extra);
        let mut owned = via_prost(&raw).unwrap();
        crate::apply_extra_labels(&mut owned.series, &extra);
        assert_eq!(req.to_owned_request(), owned);
        let (labels, _) = req.series().next().unwrap();
        assert_eq!(
            labels,
            &[("__name__", "up"), ("dc", "us"), ("job", "operator")]
        );
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped_like_prost() {
        let mut raw = request(vec![(vec![label("__name__", "a")], vec![(5, 0.5)])]);
        // An unknown fixed32 field 9, a group 10 holding a varint, a fixed64 field 11.
        raw.extend_from_slice(&[0x4d, 1, 2, 3, 4, 0x53, 0x08, 0x01, 0x54, 0x59]);
        raw.extend_from_slice(&[0; 8]);
        assert!(via_borrowed(&raw).is_ok());
        assert_eq!(via_borrowed(&raw), via_prost(&raw));
    }

    /// Bytes that are mostly valid remote write messages with some damage, so both
    /// decoders get past the first byte often.
    fn mutated_request() -> impl Strategy<Value = Vec<u8>> {
        let labels = prop::collection::vec(
            (
                prop::sample::select(vec!["__name__", "job", "", "a", "é"]),
                prop::sample::select(vec!["up", "", "x", "node"]),
            ),
            0..4,
        );
        let samples = prop::collection::vec((any::<i64>(), any::<f64>()), 0..3);
        let series = prop::collection::vec((labels, samples), 0..4);
        let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
        (series, edits, any::<prop::sample::Index>(), any::<bool>()).prop_map(
            |(series, edits, cut, truncate)| {
                let mut raw = request(
                    series
                        .into_iter()
                        .map(|(ls, ss)| (ls.into_iter().map(|(n, v)| label(n, v)).collect(), ss))
                        .collect(),
                );
                if !raw.is_empty() {
                    for (at, byte) in edits {
                        let i = at.index(raw.len());
                        raw[i] = byte;
                    }
                    if truncate {
                        raw.truncate(cut.index(raw.len()));
                    }
                }
                raw
            },
        )
    }

    fn same_outcome(raw: &[u8]) -> Result<(), TestCaseError> {
        let (a, b) = (via_borrowed(raw), via_prost(raw));
        match (&a, &b) {
            // NaN values compare unequal, so samples are compared as bit patterns.
            (Ok(x), Ok(y)) => {
                prop_assert_eq!(x.series.len(), y.series.len());
                for (s, t) in x.series.iter().zip(&y.series) {
                    prop_assert_eq!(&s.labels, &t.labels);
                    let bits = |v: &[Sample]| {
                        v.iter()
                            .map(|s| (s.timestamp, s.value.to_bits()))
                            .collect::<Vec<_>>()
                    };
                    prop_assert_eq!(bits(&s.samples), bits(&t.samples));
                }
                prop_assert_eq!(&x.metadata, &y.metadata);
            }
            // Either both fail for the same reason, or the one that succeeded shows up here.
            _ => prop_assert_eq!(a.err(), b.err()),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn agrees_with_prost_on_damaged_requests(raw in mutated_request()) {
            same_outcome(&raw)?;
        }

        #[test]
        fn agrees_with_prost_on_arbitrary_bytes(raw in prop::collection::vec(any::<u8>(), 0..64)) {
            same_outcome(&raw)?;
        }
    }
}
