//! Content negotiation per the remote write 2.0 spec ("Content-Type" and "Content-Encoding").

use crate::error::truncate_for_message;
use crate::DecodeError;

/// Which protobuf message a remote write body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteWriteVersion {
    /// `prometheus.WriteRequest`
    V1,
    /// `io.prometheus.write.v2.Request`
    V2,
}

/// Picks the message type from a `Content-Type` header.
///
/// A missing header, plain `application/x-protobuf` and `proto=prometheus.WriteRequest`
/// mean 1.0; `proto=io.prometheus.write.v2.Request` means 2.0. Any other media type or
/// `proto` value is an [`DecodeError::UnsupportedMediaType`], which the spec answers with 415.
pub fn negotiate(content_type: Option<&str>) -> Result<RemoteWriteVersion, DecodeError> {
    let Some(ct) = content_type.map(str::trim).filter(|ct| !ct.is_empty()) else {
        return Ok(RemoteWriteVersion::V1);
    };
    let unsupported = || DecodeError::UnsupportedMediaType(truncate_for_message(ct));
    let mut parts = ct.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(unsupported());
    }
    let mut version = RemoteWriteVersion::V1;
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        version = match value {
            "prometheus.WriteRequest" => RemoteWriteVersion::V1,
            "io.prometheus.write.v2.Request" => RemoteWriteVersion::V2,
            _ => return Err(unsupported()),
        };
    }
    Ok(version)
}

/// Checks `Content-Encoding`: only snappy is defined. A missing header is accepted
/// because 1.0 senders that predate the header still send snappy.
pub fn check_content_encoding(content_encoding: Option<&str>) -> Result<(), DecodeError> {
    match content_encoding.map(str::trim) {
        None | Some("") => Ok(()),
        Some(enc) if enc.eq_ignore_ascii_case("snappy") => Ok(()),
        Some(enc) => Err(DecodeError::UnsupportedMediaType(format!(
            "Content-Encoding: {}",
            truncate_for_message(enc)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{CONTENT_TYPE_V1, CONTENT_TYPE_V2};

    #[test]
    fn spec_content_types() {
        assert_eq!(negotiate(None).unwrap(), RemoteWriteVersion::V1);
        assert_eq!(negotiate(Some("")).unwrap(), RemoteWriteVersion::V1);
        assert_eq!(
            negotiate(Some("application/x-protobuf")).unwrap(),
            RemoteWriteVersion::V1
        );
        assert_eq!(
            negotiate(Some(CONTENT_TYPE_V1)).unwrap(),
            RemoteWriteVersion::V1
        );
        assert_eq!(
            negotiate(Some(CONTENT_TYPE_V2)).unwrap(),
            RemoteWriteVersion::V2
        );
        assert_eq!(
            negotiate(Some(
                "Application/X-Protobuf; proto=\"io.prometheus.write.v2.Request\""
            ))
            .unwrap(),
            RemoteWriteVersion::V2
        );
    }

    #[test]
    fn unsupported_content_types_map_to_415() {
        for ct in [
            "application/json",
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
            "text/plain",
        ] {
            let e = negotiate(Some(ct)).unwrap_err();
            assert!(e.is_unsupported_media_type(), "{ct}");
            assert_eq!(e.reason(), "unsupported_media_type");
        }
    }

    #[test]
    fn content_encoding() {
        assert!(check_content_encoding(None).is_ok());
        assert!(check_content_encoding(Some("snappy")).is_ok());
        assert!(check_content_encoding(Some("zstd"))
            .unwrap_err()
            .is_unsupported_media_type());
    }
}
