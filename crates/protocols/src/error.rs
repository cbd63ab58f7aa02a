//! The one error type every decoder returns.

/// Why a body could not be decoded. [`DecodeError::reason`] gives a short stable
/// token for metrics labels; `Display` gives the human-readable message that the
/// HTTP API returns to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The snappy block is corrupt or truncated.
    #[error("invalid snappy block: {0}")]
    BadSnappy(String),
    /// The protobuf message is malformed (bad varint, truncated field, wrong wire type, non-UTF-8 string).
    #[error("invalid protobuf message: {0}")]
    BadProtobuf(String),
    /// The message is well-formed protobuf but breaks the protocol's own rules
    /// (a symbol reference out of range, an odd number of label references, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The body (or its decompressed form) exceeds the configured limit.
    #[error("body too large: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes received or announced.
        size: u64,
        /// Bytes allowed.
        limit: u64,
    },
    /// A label set has an empty or duplicate label name, or a name the format forbids.
    #[error("invalid labels {labels}: {problem}")]
    InvalidLabel {
        /// The offending label set, shortened for display.
        labels: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A series has no `__name__` label (or an empty one).
    #[error("series {labels} has no metric name")]
    MissingMetricName {
        /// The label set, shortened for display.
        labels: String,
    },
    /// A text-based format could not be parsed; `line` is 1-based (0 when there are no lines, as in JSON bodies).
    #[error("{}{message}", line_prefix(*line))]
    Parse {
        /// 1-based line number, 0 when not line-oriented.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// Text that must be UTF-8 is not.
    #[error("invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The content type or content encoding is not one this decoder speaks (HTTP 415).
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
}

impl DecodeError {
    /// A short, stable token for use as a metrics label value.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::BadSnappy(_) => "bad_snappy",
            DecodeError::BadProtobuf(_) => "bad_protobuf",
            DecodeError::InvalidRequest(_) => "invalid_request",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::InvalidLabel { .. } => "invalid_label",
            DecodeError::MissingMetricName { .. } => "missing_metric_name",
            DecodeError::Parse { .. } => "parse",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::UnsupportedMediaType(_) => "unsupported_media_type",
        }
    }

    /// True when the HTTP answer should be 415 Unsupported Media Type rather than 400.
    pub fn is_unsupported_media_type(&self) -> bool {
        matches!(self, DecodeError::UnsupportedMediaType(_))
    }

    pub(crate) fn parse(line: usize, message: impl Into<String>) -> DecodeError {
        DecodeError::Parse {
            line,
            message: message.into(),
        }
    }
}

impl From<prost::DecodeError> for DecodeError {
    fn from(e: prost::DecodeError) -> DecodeError {
        DecodeError::BadProtobuf(e.to_string())
    }
}

impl From<snap::Error> for DecodeError {
    fn from(e: snap::Error) -> DecodeError {
        DecodeError::BadSnappy(e.to_string())
    }
}

fn line_prefix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

/// Shortens attacker-controlled text quoted in error messages, so a huge label value
/// cannot turn into a huge log line or response body.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_reasons() {
        assert_eq!(DecodeError::parse(3, "bad").to_string(), "line 3: bad");
        assert_eq!(DecodeError::parse(0, "bad").to_string(), "bad");
        assert_eq!(
            DecodeError::TooLarge { size: 10, limit: 5 }.reason(),
            "too_large"
        );
        let long = "é".repeat(500);
        let t = truncate_for_message(&long);
        assert!(t.len() <= 204 && t.ends_with("..."));
    }
}
