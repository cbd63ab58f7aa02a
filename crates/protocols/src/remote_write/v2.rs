//! Remote write 2.0: `io.prometheus.write.v2.Request` with its interned symbol table.

use std::collections::{HashMap, HashSet};

use prost::Message;
use tidemark_model::{
    FloatHistogram, Label, Labels, MetricMetadata, MetricType, Sample, TimeSeries,
};

use super::histogram::to_float_histogram;
use super::{compress, decompress, metric_type_from_proto, metric_type_to_proto, proto_v2 as pb};
use crate::labels_check::validated_labels;
use crate::{DecodeError, WriteRequest};

/// A decoded 2.0 request. Tidemark stores float samples and metadata; native
/// histograms and exemplars are decoded and validated too, and handed back
/// separately so the server can report honestly what it did not write
/// (`X-Prometheus-Remote-Write-Histograms-Written` / `-Exemplars-Written`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedV2 {
    /// Float series and metadata, the part Tidemark stores.
    pub request: WriteRequest,
    /// Native histogram series, validated but not stored.
    pub histograms: Vec<HistogramSeries>,
    /// Number of exemplars received (their label references were validated).
    pub exemplars: usize,
}

impl DecodedV2 {
    /// Total number of native histogram samples over all series.
    pub fn histogram_count(&self) -> usize {
        self.histograms.iter().map(|h| h.samples.len()).sum()
    }
}

/// Native histogram samples of one series: `(timestamp_ms, histogram)`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    /// The series' validated labels.
    pub labels: Labels,
    /// `(timestamp_ms, histogram)` in the order sent.
    pub samples: Vec<(i64, FloatHistogram)>,
}

/// Decodes a snappy-compressed `io.prometheus.write.v2.Request`.
///
/// Rejects the whole request when a symbol reference is out of range, a
/// `labels_refs` list has odd length, a series mixes float and histogram samples,
/// a label set is invalid or has no metric name, or a histogram is inconsistent.
/// Series metadata becomes one [`MetricMetadata`] per metric name (first one wins);
/// the created timestamp is accepted and ignored (Tidemark does not store it).
pub fn decode_v2(body: &[u8], max_decoded_bytes: usize) -> Result<DecodedV2, DecodeError> {
    let raw = decompress(body, max_decoded_bytes)?;
    let msg = pb::Request::decode(raw.as_slice())?;
    drop(raw);
    let symbols = Symbols(&msg.symbols);
    if msg.symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(DecodeError::InvalidRequest(
            "symbols[0] must be the empty string".into(),
        ));
    }
    let mut out = DecodedV2::default();
    let mut families_seen: HashSet<String> = HashSet::new();
    for ts in &msg.timeseries {
        let labels = validated_labels(symbols.labels(&ts.labels_refs)?)?;
        if !ts.samples.is_empty() && !ts.histograms.is_empty() {
            return Err(DecodeError::InvalidRequest(format!(
                "series {} carries both float and histogram samples",
                crate::error::truncate_for_message(&labels.to_string())
            )));
        }
        for e in &ts.exemplars {
            symbols.labels(&e.labels_refs)?;
        }
        out.exemplars += ts.exemplars.len();
        if let Some(m) = &ts.metadata {
            let metadata = symbols.metadata(m, &labels)?;
            if let Some(md) = metadata.filter(|md| !families_seen.contains(&md.metric_family)) {
                families_seen.insert(md.metric_family.clone());
                out.request.metadata.push(md);
            }
        }
        if !ts.histograms.is_empty() {
            let samples = ts
                .histograms
                .iter()
                .map(|h| Ok((h.timestamp, to_float_histogram(h)?)))
                .collect::<Result<Vec<_>, DecodeError>>()?;
            out.histograms.push(HistogramSeries { labels, samples });
        } else if !ts.samples.is_empty() {
            let samples = ts
                .samples
                .iter()
                .map(|s| Sample::new(s.timestamp, s.value))
                .collect();
            out.request.series.push(TimeSeries::new(labels, samples));
        }
    }
    Ok(out)
}

/// Resolves symbol references with bounds checks.
struct Symbols<'a>(&'a [String]);

impl Symbols<'_> {
    fn get(&self, r: u32) -> Result<&str, DecodeError> {
        self.0.get(r as usize).map(String::as_str).ok_or_else(|| {
            DecodeError::InvalidRequest(format!(
                "symbol reference {r} out of range (table has {} entries)",
                self.0.len()
            ))
        })
    }

    fn labels(&self, refs: &[u32]) -> Result<Vec<Label>, DecodeError> {
        if refs.len() & 1 == 1 {
            return Err(DecodeError::InvalidRequest(format!(
                "odd number ({}) of label references",
                refs.len()
            )));
        }
        refs.chunks_exact(2)
            .map(|p| Ok(Label::new(self.get(p[0])?, self.get(p[1])?)))
            .collect()
    }

    /// `None` when the series sent no type, help or unit.
    fn metadata(
        &self,
        m: &pb::Metadata,
        labels: &Labels,
    ) -> Result<Option<MetricMetadata>, DecodeError> {
        let help = self.get(m.help_ref)?;
        let unit = self.get(m.unit_ref)?;
        let metric_type = metric_type_from_proto(m.r#type);
        if metric_type == MetricType::Unknown && help.is_empty() && unit.is_empty() {
            return Ok(None);
        }
        // validated_labels guarantees the name.
        let family = labels.metric_name().unwrap_or_default().to_string();
        Ok(Some(MetricMetadata {
            metric_family: family,
            metric_type,
            help: help.to_string(),
            unit: unit.to_string(),
        }))
    }
}

/// Encodes series as a snappy-compressed `io.prometheus.write.v2.Request`; each
/// series whose metric name has an entry in `metadata` carries that metadata.
pub fn encode_v2(series: &[TimeSeries], metadata: &[MetricMetadata]) -> Vec<u8> {
    encode_v2_with_histograms(series, &[], metadata)
}

/// Like [`encode_v2`], also carrying native histogram series (integer histograms
/// when every count is a whole number, float histograms otherwise).
pub fn encode_v2_with_histograms(
    series: &[TimeSeries],
    histograms: &[HistogramSeries],
    metadata: &[MetricMetadata],
) -> Vec<u8> {
    let mut table = SymbolTable::default();
    let by_family: HashMap<&str, &MetricMetadata> = metadata
        .iter()
        .map(|m| (m.metric_family.as_str(), m))
        .collect();
    let mut timeseries: Vec<pb::TimeSeries> = series
        .iter()
        .map(|ts| {
            let labels_refs = ts
                .labels
                .iter()
                .flat_map(|l| [table.intern(&l.name), table.intern(&l.value)])
                .collect();
            let metadata = ts
                .labels
                .metric_name()
                .and_then(|n| by_family.get(n))
                .map(|m| pb::Metadata {
                    r#type: metric_type_to_proto(m.metric_type),
                    help_ref: table.intern(&m.help),
                    unit_ref: table.intern(&m.unit),
                });
            pb::TimeSeries {
                labels_refs,
                samples: ts
                    .samples
                    .iter()
                    .map(|s| pb::Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                        start_timestamp: 0,
                    })
                    .collect(),
                metadata,
                ..Default::default()
            }
        })
        .collect();
    for hs in histograms {
        timeseries.push(pb::TimeSeries {
            labels_refs: hs
                .labels
                .iter()
                .flat_map(|l| [table.intern(&l.name), table.intern(&l.value)])
                .collect(),
            histograms: hs
                .samples
                .iter()
                .map(|(t, h)| super::histogram::to_wire_histogram(*t, h))
                .collect(),
            ..Default::default()
        });
    }
    let msg = pb::Request {
        symbols: table.symbols,
        timeseries,
    };
    compress(&msg.encode_to_vec())
}

/// Interns strings; index 0 is always the empty string, as the spec requires.
struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> SymbolTable {
        SymbolTable {
            symbols: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl SymbolTable {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.symbols.len()).expect("fewer than 2^32 distinct symbols");
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::STALE_NAN;

    fn encode_raw(msg: &pb::Request) -> Vec<u8> {
        compress(&msg.encode_to_vec())
    }

    #[test]
    fn round_trip_with_metadata() {
        let series = vec![
            TimeSeries::new(
                Labels::from_pairs([("__name__", "up"), ("job", "a")]),
                vec![Sample::new(1000, 1.0), Sample::new(2000, STALE_NAN)],
            ),
            TimeSeries::new(
                Labels::from_pairs([("__name__", "up"), ("job", "b")]),
                vec![Sample::new(1000, 0.0)],
            ),
        ];
        let metadata = vec![MetricMetadata {
            metric_family: "up".into(),
            metric_type: MetricType::Gauge,
            help: "target up".into(),
            unit: String::new(),
        }];
        let d = decode_v2(&encode_v2(&series, &metadata), 1 << 20).unwrap();
        assert_eq!(d.request.series, series);
        assert_eq!(d.request.metadata, metadata, "deduplicated per metric name");
        assert_eq!((d.histogram_count(), d.exemplars), (0, 0));
    }

    fn request(refs: Vec<u32>) -> pb::Request {
        pb::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![pb::TimeSeries {
                labels_refs: refs,
                samples: vec![pb::Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 0,
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn bad_symbol_references_are_rejected() {
        assert!(decode_v2(&encode_raw(&request(vec![1, 2])), 1 << 20).is_ok());
        assert_eq!(
            decode_v2(&encode_raw(&request(vec![1, 9])), 1 << 20)
                .unwrap_err()
                .reason(),
            "invalid_request"
        );
        assert_eq!(
            decode_v2(&encode_raw(&request(vec![1])), 1 << 20)
                .unwrap_err()
                .reason(),
            "invalid_request"
        );
        assert_eq!(
            decode_v2(&encode_raw(&request(vec![1, 2, 0, 2])), 1 << 20)
                .unwrap_err()
                .reason(),
            "invalid_label",
            "empty label name"
        );
        let mut r = request(vec![1, 2]);
        r.symbols[0] = "x".into();
        assert_eq!(
            decode_v2(&encode_raw(&r), 1 << 20).unwrap_err().reason(),
            "invalid_request"
        );
        let mut r = request(vec![1, 2]);
        r.timeseries[0].metadata = Some(pb::Metadata {
            r#type: 2,
            help_ref: 77,
            unit_ref: 0,
        });
        assert!(decode_v2(&encode_raw(&r), 1 << 20).is_err());
    }

    #[test]
    fn histograms_and_exemplars_are_reported_separately() {
        let mut r = request(vec![1, 2]);
        r.timeseries[0].samples.clear();
        r.timeseries[0].histograms = vec![pb::Histogram {
            count: Some(pb::Count::CountFloat(3.0)),
            zero_count: Some(pb::ZeroCount::ZeroCountFloat(1.0)),
            positive_spans: vec![pb::BucketSpan {
                offset: 1,
                length: 1,
            }],
            positive_counts: vec![2.0],
            timestamp: 42,
            ..Default::default()
        }];
        r.timeseries[0].exemplars = vec![pb::Exemplar {
            labels_refs: vec![1, 2],
            value: 1.0,
            timestamp: 42,
        }];
        let d = decode_v2(&encode_raw(&r), 1 << 20).unwrap();
        assert!(d.request.series.is_empty());
        assert_eq!(d.histogram_count(), 1);
        assert_eq!(d.histograms[0].samples[0].0, 42);
        assert_eq!(d.histograms[0].samples[0].1.positive_buckets, vec![2.0]);
        assert_eq!(d.exemplars, 1);

        r.timeseries[0].samples = vec![pb::Sample {
            value: 1.0,
            timestamp: 5,
            start_timestamp: 0,
        }];
        assert_eq!(
            decode_v2(&encode_raw(&r), 1 << 20).unwrap_err().reason(),
            "invalid_request"
        );
    }

    #[test]
    fn a_v1_body_decodes_as_an_empty_v2_request() {
        let v1 = crate::remote_write::encode_v1(&[TimeSeries::new(
            Labels::from_pairs([("__name__", "up")]),
            vec![Sample::new(1, 1.0)],
        )]);
        let d = decode_v2(&v1, 1 << 20).unwrap();
        assert!(d.request.series.is_empty());
    }
}
