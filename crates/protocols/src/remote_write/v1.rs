//! Remote write 1.0: `prometheus.WriteRequest`.

use prost::Message;
use tidemark_model::{Label, MetricMetadata, Sample, TimeSeries};

use super::{compress, decompress, metric_type_from_proto, metric_type_to_proto, proto_v1 as pb};
use crate::labels_check::validated_labels;
use crate::{DecodeError, WriteRequest};

/// Decodes a snappy-compressed `prometheus.WriteRequest`.
///
/// `max_decoded_bytes` bounds the decompressed size. Every series must have valid
/// labels and a metric name, or the whole request is rejected. Series that carry
/// no float samples (1.0 native-histogram or exemplar-only series, which Tidemark
/// does not store) are left out.
pub fn decode_v1(body: &[u8], max_decoded_bytes: usize) -> Result<WriteRequest, DecodeError> {
    let raw = decompress(body, max_decoded_bytes)?;
    let msg = pb::WriteRequest::decode(raw.as_slice())?;
    drop(raw);
    let mut series = Vec::with_capacity(msg.timeseries.len());
    for ts in msg.timeseries {
        let labels = validated_labels(
            ts.labels
                .into_iter()
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        )?;
        if ts.samples.is_empty() {
            continue;
        }
        let samples = ts
            .samples
            .into_iter()
            .map(|s| Sample::new(s.timestamp, s.value))
            .collect();
        series.push(TimeSeries::new(labels, samples));
    }
    let mut metadata = Vec::with_capacity(msg.metadata.len());
    for m in msg.metadata {
        if m.metric_family_name.is_empty() {
            return Err(DecodeError::InvalidRequest(
                "metadata entry without a metric family name".into(),
            ));
        }
        metadata.push(MetricMetadata {
            metric_family: m.metric_family_name,
            metric_type: metric_type_from_proto(m.r#type),
            help: m.help,
            unit: m.unit,
        });
    }
    Ok(WriteRequest { series, metadata })
}

/// Encodes series as a snappy-compressed `prometheus.WriteRequest` (what a 1.0 sender posts).
pub fn encode_v1(series: &[TimeSeries]) -> Vec<u8> {
    encode_v1_parts(series, &[])
}

/// Like [`encode_v1`], also carrying the request's metadata.
pub fn encode_v1_request(request: &WriteRequest) -> Vec<u8> {
    encode_v1_parts(&request.series, &request.metadata)
}

fn encode_v1_parts(series: &[TimeSeries], metadata: &[MetricMetadata]) -> Vec<u8> {
    let msg = pb::WriteRequest {
        timeseries: series
            .iter()
            .map(|ts| pb::TimeSeries {
                labels: ts
                    .labels
                    .iter()
                    .map(|l| pb::Label {
                        name: l.name.clone(),
                        value: l.value.clone(),
                    })
                    .collect(),
                samples: ts
                    .samples
                    .iter()
                    .map(|s| pb::Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                    })
                    .collect(),
            })
            .collect(),
        metadata: metadata
            .iter()
            .map(|m| pb::MetricMetadata {
                r#type: metric_type_to_proto(m.metric_type),
                metric_family_name: m.metric_family.clone(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect(),
    };
    compress(&msg.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{Labels, MetricType, STALE_NAN};

    fn series(name: &str, job: &str, samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries::new(
            Labels::from_pairs([("__name__", name), ("job", job)]),
            samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        )
    }

    #[test]
    fn round_trip_keeps_labels_samples_metadata_and_stale_markers() {
        let req = WriteRequest {
            series: vec![
                series("up", "a", &[(1000, 1.0), (2000, STALE_NAN)]),
                series(
                    "http_requests_total",
                    "b",
                    &[(-5, f64::INFINITY), (7, f64::NAN)],
                ),
            ],
            metadata: vec![MetricMetadata {
                metric_family: "up".into(),
                metric_type: MetricType::Gauge,
                help: "1 if the target is up".into(),
                unit: String::new(),
            }],
        };
        let decoded = decode_v1(&encode_v1_request(&req), 1 << 20).unwrap();
        assert_eq!(decoded, req);
        assert_eq!(decoded.sample_count(), 4);
    }

    #[test]
    fn rejects_over_limit_before_decompressing() {
        let body = encode_v1(&[series("up", "a", &[(1, 1.0); 100])]);
        let e = decode_v1(&body, 16).unwrap_err();
        assert_eq!(e.reason(), "too_large");
    }

    #[test]
    fn rejects_missing_metric_name_and_duplicate_labels() {
        let no_name = TimeSeries::new(
            Labels::from_pairs([("job", "a")]),
            vec![Sample::new(1, 1.0)],
        );
        assert_eq!(
            decode_v1(&encode_v1(&[no_name]), 1 << 20)
                .unwrap_err()
                .reason(),
            "missing_metric_name"
        );

        let dup = pb::WriteRequest {
            timeseries: vec![pb::TimeSeries {
                labels: vec![
                    pb::Label {
                        name: "__name__".into(),
                        value: "x".into(),
                    },
                    pb::Label {
                        name: "a".into(),
                        value: "1".into(),
                    },
                    pb::Label {
                        name: "a".into(),
                        value: "2".into(),
                    },
                ],
                samples: vec![pb::Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
            }],
            metadata: vec![],
        };
        let body = compress(&dup.encode_to_vec());
        assert_eq!(
            decode_v1(&body, 1 << 20).unwrap_err().reason(),
            "invalid_label"
        );
    }

    #[test]
    fn bad_snappy_and_bad_protobuf_are_distinguished() {
        assert_eq!(
            decode_v1(b"\xff\xff\xff\xff\xff\xff", 1 << 20)
                .unwrap_err()
                .reason(),
            "bad_snappy"
        );
        let garbage = compress(&[0x0a, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode_v1(&garbage, 1 << 20).unwrap_err().reason(),
            "bad_protobuf"
        );
    }

    #[test]
    fn invalid_utf8_label_is_a_protobuf_error() {
        let mut raw = pb::WriteRequest {
            timeseries: vec![pb::TimeSeries {
                labels: vec![pb::Label {
                    name: "__name__".into(),
                    value: "ab".into(),
                }],
                samples: vec![],
            }],
            metadata: vec![],
        }
        .encode_to_vec();
        let pos = raw.windows(2).position(|w| w == b"ab").unwrap();
        raw[pos] = 0xc3; // starts a 2-byte sequence that 'b' does not continue
        assert_eq!(
            decode_v1(&compress(&raw), 1 << 20).unwrap_err().reason(),
            "bad_protobuf"
        );
    }
}
