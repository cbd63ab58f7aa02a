//! Request bodies: the compressed-size limit while reading, then `Content-Encoding`
//! decompression under the decompressed-size limit (so a small gzip bomb cannot
//! expand into gigabytes).

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::api::response::ApiError;

/// Which `Content-Encoding`s an endpoint accepts besides identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encodings {
    /// Identity only: the protocol compresses inside the payload (remote write's snappy,
    /// which its decoder undoes, so `Content-Encoding: snappy` passes through).
    PayloadCompressed,
    /// gzip, deflate and zstd, as VictoriaMetrics accepts on its import endpoints.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Zstd,
}

/// Reads the header; an encoding the endpoint does not speak is a 415.
pub fn content_encoding(headers: &HeaderMap, allowed: Encodings) -> Result<Encoding, ApiError> {
    let Some(raw) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let value = raw.to_str().unwrap_or("").trim().to_ascii_lowercase();
    if value == "snappy" && allowed == Encodings::PayloadCompressed {
        return Ok(Encoding::Identity);
    }
    let enc = match value.as_str() {
        "" | "identity" => return Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Encoding::Gzip,
        "deflate" => Encoding::Deflate,
        "zstd" => Encoding::Zstd,
        _ => {
            return Err(ApiError::unsupported_media_type(format!(
                "unsupported Content-Encoding {value:?}"
            ))
            .with_reason("unsupported_media_type"))
        }
    };
    match allowed {
        Encodings::Http => Ok(enc),
        Encodings::PayloadCompressed => Err(ApiError::unsupported_media_type(format!(
            "Content-Encoding {value:?} is not accepted here: this protocol compresses its payload itself"
        ))),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "request body exceeds the limit of {limit} bytes (see --max-request-body-bytes)"
    ))
}

/// Reads the whole body, failing with 413 as soon as it exceeds `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(e) => {
            Err(ApiError::bad_data(format!("cannot read request body: {e}"))
                .with_reason("read_error"))
        }
    }
}

fn read_limited(reader: impl Read, limit: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_data(format!("cannot decompress request body: {e}"))
                .with_reason("bad_compression")
        })?;
    if out.len() > limit {
        return Err(ApiError::too_large(format!(
            "decompressed request body exceeds the limit of {limit} bytes (see --max-decompressed-body-bytes)"
        )));
    }
    Ok(Bytes::from(out))
}

/// Decodes `data` per `encoding`; identity bodies are returned as they are.
pub fn decompress(encoding: Encoding, data: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    match encoding {
        Encoding::Identity => Ok(data),
        Encoding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(&data[..]), limit),
        Encoding::Deflate => read_limited(flate2::read::ZlibDecoder::new(&data[..]), limit),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(&data[..]).map_err(|e| {
                ApiError::bad_data(format!("cannot decompress request body: {e}"))
                    .with_reason("bad_compression")
            })?;
            read_limited(decoder, limit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    #[test]
    fn gzip_and_zstd_round_trip() {
        let data = b"up 1\n".repeat(100);
        assert_eq!(
            &decompress(Encoding::Gzip, gzip(&data), 1 << 20).unwrap()[..],
            &data[..]
        );
        let z = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(
            &decompress(Encoding::Zstd, Bytes::from(z), 1 << 20).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn decompression_bomb_is_413() {
        let data = vec![0u8; 1 << 20];
        let err = decompress(Encoding::Gzip, gzip(&data), 1000).unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
    }

    #[test]
    fn garbage_is_400() {
        let err = decompress(Encoding::Gzip, Bytes::from_static(b"not gzip"), 1000).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        let err = decompress(Encoding::Zstd, Bytes::from_static(b"not zstd"), 1000).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
    }

    #[test]
    fn encodings_are_negotiated() {
        let mut h = HeaderMap::new();
        assert_eq!(
            content_encoding(&h, Encodings::PayloadCompressed).unwrap(),
            Encoding::Identity
        );
        h.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(
            content_encoding(&h, Encodings::Http).unwrap(),
            Encoding::Gzip
        );
        assert_eq!(
            content_encoding(&h, Encodings::PayloadCompressed)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        h.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert_eq!(
            content_encoding(&h, Encodings::Http)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
    }
}
