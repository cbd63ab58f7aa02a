//! Native histograms in remote write 1.0 (`prometheus.TimeSeries.histograms`,
//! field 4; its `prometheus.Histogram` numbers fields like 2.0's `Histogram`).
//!
//! The float decoders skip field 4. [`decode_v1_histograms`] first walks the message
//! structure (tags and lengths only, no allocation) and only decodes when some series
//! carries histograms, so float-only requests pay a scan, not a second decode.

use prost::Message;
use tidemark_model::{Label, TimeSeries};

use super::histogram::{to_float_histogram, to_wire_histogram};
use super::{compress, proto_v1, proto_v2, HistogramSeries};
use crate::labels_check::validated_labels;
use crate::DecodeError;

/// `prometheus.WriteRequest` reduced to what histogram decoding reads.
#[derive(Clone, PartialEq, Message)]
struct HistogramRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<HistogramTimeSeries>,
}

/// `prometheus.TimeSeries` without its float samples (prost skips them).
#[derive(Clone, PartialEq, Message)]
struct HistogramTimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<proto_v1::Label>,
    #[prost(message, repeated, tag = "4")]
    histograms: Vec<proto_v2::Histogram>,
}

/// `prometheus.TimeSeries` with floats and histograms, for encoding.
#[derive(Clone, PartialEq, Message)]
struct FullTimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<proto_v1::Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<proto_v1::Sample>,
    #[prost(message, repeated, tag = "4")]
    histograms: Vec<proto_v2::Histogram>,
}

#[derive(Clone, PartialEq, Message)]
struct FullRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<FullTimeSeries>,
}

/// The native histogram series of a decompressed `prometheus.WriteRequest`, labels
/// validated and histograms checked like 2.0's (spans must match bucket counts,
/// schema -4..=8 or -53, counts non-negative). Series without histograms are left out.
pub fn decode_v1_histograms(raw: &[u8]) -> Result<Vec<HistogramSeries>, DecodeError> {
    if !carries_histograms(raw) {
        return Ok(Vec::new());
    }
    let msg = HistogramRequest::decode(raw)?;
    let mut out = Vec::new();
    for ts in msg.timeseries {
        if ts.histograms.is_empty() {
            continue;
        }
        let labels = validated_labels(
            ts.labels
                .into_iter()
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        )?;
        let samples = ts
            .histograms
            .iter()
            .map(|h| Ok((h.timestamp, to_float_histogram(h)?)))
            .collect::<Result<_, DecodeError>>()?;
        out.push(HistogramSeries { labels, samples });
    }
    Ok(out)
}

/// Encodes float series and histogram series as one snappy-compressed
/// `prometheus.WriteRequest` (what a 1.0 sender with native histograms posts).
pub fn encode_v1_with_histograms(series: &[TimeSeries], histograms: &[HistogramSeries]) -> Vec<u8> {
    let labels = |l: &tidemark_model::Labels| -> Vec<proto_v1::Label> {
        l.iter()
            .map(|l| proto_v1::Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect()
    };
    let floats = series.iter().map(|ts| FullTimeSeries {
        labels: labels(&ts.labels),
        samples: ts
            .samples
            .iter()
            .map(|s| proto_v1::Sample {
                value: s.value,
                timestamp: s.timestamp,
            })
            .collect(),
        histograms: Vec::new(),
    });
    let hists = histograms.iter().map(|hs| FullTimeSeries {
        labels: labels(&hs.labels),
        samples: Vec::new(),
        histograms: hs
            .samples
            .iter()
            .map(|(t, h)| to_wire_histogram(*t, h))
            .collect(),
    });
    let msg = FullRequest {
        timeseries: floats.chain(hists).collect(),
    };
    compress(&msg.encode_to_vec())
}

/// Whether any `TimeSeries` (field 1 of the request) has a field 4. Malformed input
/// answers `true`, so the full decode reports the error.
fn carries_histograms(raw: &[u8]) -> bool {
    for field in Fields::new(raw) {
        match field {
            Err(()) => return true,
            Ok((1, Some(series))) => {
                for f in Fields::new(series) {
                    match f {
                        Err(()) | Ok((4, _)) => return true,
                        Ok(_) => {}
                    }
                }
            }
            Ok(_) => {}
        }
    }
    false
}

/// Iterates a message's fields as `(number, payload if length-delimited)`.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Fields<'a> {
        Fields { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ()> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos).ok_or(())?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(())
    }

    fn skip(&mut self, n: u64) -> Result<&'a [u8], ()> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.data.len())
            .ok_or(())?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn field(&mut self) -> Result<(u64, Option<&'a [u8]>), ()> {
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => self.varint().map(|_| None)?,
            1 => self.skip(8).map(|_| None)?,
            2 => {
                let len = self.varint()?;
                Some(self.skip(len)?)
            }
            5 => self.skip(4).map(|_| None)?,
            _ => return Err(()),
        };
        Ok((key >> 3, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Option<&'a [u8]>), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let f = self.field();
        if f.is_err() {
            self.pos = self.data.len();
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{BucketSpan, FloatHistogram, Labels, Sample};

    fn histogram(buckets: Vec<f64>) -> FloatHistogram {
        FloatHistogram {
            schema: 2,
            count: buckets.iter().sum(),
            sum: 4.5,
            positive_spans: vec![BucketSpan {
                offset: 1,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets,
            ..Default::default()
        }
    }

    fn raw(series: &[TimeSeries], histograms: &[HistogramSeries]) -> Vec<u8> {
        snap::raw::Decoder::new()
            .decompress_vec(&encode_v1_with_histograms(series, histograms))
            .unwrap()
    }

    #[test]
    fn histograms_round_trip_next_to_floats() {
        let floats = vec![TimeSeries::new(
            Labels::from_pairs([("__name__", "up")]),
            vec![Sample::new(1, 1.0)],
        )];
        let hists = vec![HistogramSeries {
            labels: Labels::from_pairs([("__name__", "rpc_seconds"), ("job", "a")]),
            samples: vec![
                (10, histogram(vec![1.0, 3.0])),
                (20, histogram(vec![0.5, 2.0])),
            ],
        }];
        let body = raw(&floats, &hists);
        assert_eq!(decode_v1_histograms(&body).unwrap(), hists);
        // The float decoder still sees exactly the float series.
        let compressed = encode_v1_with_histograms(&floats, &hists);
        let req = crate::remote_write::decode_v1(&compressed, 1 << 20).unwrap();
        assert_eq!(req.series, floats);
        // The borrowed float decoder notices the histograms it skips.
        let borrowed = crate::remote_write::decode_v1_borrowed(&body).unwrap();
        assert!(borrowed.carries_histograms());
        assert_eq!(borrowed.len(), 1, "the histogram-only series has no floats");
        let float_only = raw(&floats, &[]);
        assert!(!crate::remote_write::decode_v1_borrowed(&float_only)
            .unwrap()
            .carries_histograms());
        // A float-only body is recognised by the scan alone.
        assert!(!carries_histograms(&raw(&floats, &[])));
        assert!(decode_v1_histograms(&raw(&floats, &[])).unwrap().is_empty());
    }

    #[test]
    fn inconsistent_histograms_and_garbage_are_errors() {
        let mut bad = histogram(vec![1.0, 3.0]);
        bad.positive_spans[0].length = 3;
        let hists = vec![HistogramSeries {
            labels: Labels::from_pairs([("__name__", "rpc_seconds")]),
            samples: vec![(10, bad)],
        }];
        let err = decode_v1_histograms(&raw(&[], &hists)).unwrap_err();
        assert!(
            err.to_string().contains("spans describe 3 buckets"),
            "{err}"
        );
        let mut schema = histogram(vec![1.0]);
        schema.schema = 20;
        let hists = vec![HistogramSeries {
            labels: Labels::from_pairs([("__name__", "rpc_seconds")]),
            samples: vec![(10, schema)],
        }];
        assert!(decode_v1_histograms(&raw(&[], &hists)).is_err());
        assert!(decode_v1_histograms(&[0x0a, 0x05, 0x22]).is_err());
    }
}
