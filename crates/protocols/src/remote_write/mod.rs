//! Prometheus remote write, versions 1.0 and 2.0.
//!
//! Both versions are a snappy *block*-compressed protobuf body; the `Content-Type`
//! `proto=` parameter says which message it is ([`negotiate`]). Decoding checks the
//! decompressed size announced in the snappy header against the caller's limit before
//! allocating anything.

mod histogram;
mod negotiate;
mod pb_reader;
pub mod proto_v1;
pub mod proto_v2;
mod v1;
mod v1_borrowed;
mod v1_histograms;
mod v2;

pub use negotiate::{check_content_encoding, negotiate, RemoteWriteVersion};
pub use v1::{decode_v1, encode_v1, encode_v1_request};
pub use v1_borrowed::{decode_v1_borrowed, LabelRef, WriteRequestBorrowed};
pub use v1_histograms::{decode_v1_histograms, encode_v1_with_histograms};
pub use v2::{decode_v2, encode_v2, encode_v2_with_histograms, DecodedV2, HistogramSeries};

use tidemark_model::MetricType;

use crate::DecodeError;

/// Content type of remote write 1.0 bodies (`prometheus.WriteRequest`).
pub const CONTENT_TYPE_V1: &str = "application/x-protobuf;proto=prometheus.WriteRequest";
/// Content type of remote write 2.0 bodies (`io.prometheus.write.v2.Request`).
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
/// `X-Prometheus-Remote-Write-Version` value a 1.0 sender uses.
pub const VERSION_HEADER_V1: &str = "0.1.0";
/// `X-Prometheus-Remote-Write-Version` value a 2.0 sender uses.
pub const VERSION_HEADER_V2: &str = "2.0.0";

/// Snappy-decompresses a block-format body after checking its announced size.
fn decompress(body: &[u8], max_decoded_bytes: usize) -> Result<Vec<u8>, DecodeError> {
    let size = snap::raw::decompress_len(body)?;
    if size > max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            size: size as u64,
            limit: max_decoded_bytes as u64,
        });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Snappy-decompresses a block-format body into `out` (replacing its contents), after
/// checking the announced size, so a caller can reuse one buffer across requests.
pub fn decompress_into(
    body: &[u8],
    max_decoded_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let size = snap::raw::decompress_len(body)?;
    if size > max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            size: size as u64,
            limit: max_decoded_bytes as u64,
        });
    }
    out.clear();
    out.resize(size, 0);
    let written = snap::raw::Decoder::new().decompress(body, out)?;
    out.truncate(written);
    Ok(())
}

/// Snappy block-compresses an encoded message.
fn compress(raw: &[u8]) -> Vec<u8> {
    // The block format only fails for inputs over ~4 GiB, which no encoder here builds.
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy block input under 4 GiB")
}

/// Both protocol versions number metric types the same way (0 = unknown/unspecified).
fn metric_type_from_proto(t: i32) -> MetricType {
    match t {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

fn metric_type_to_proto(t: MetricType) -> i32 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}
