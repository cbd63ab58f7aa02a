//! Why a block could not be decoded.

/// A block failed to decode. Every variant means the bytes are not a block this
/// version wrote intact: truncation, corruption, or a newer format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    #[error("block is truncated: ran out of bytes while reading {0}")]
    Truncated(&'static str),
    #[error("unsupported block format version {0}")]
    UnsupportedVersion(u8),
    #[error("unsupported sample kind {0} (only float blocks exist)")]
    UnsupportedSampleKind(u8),
    #[error("unknown timestamp codec id {0}")]
    UnknownTimestampCodec(u8),
    #[error("unknown value codec id {0}")]
    UnknownValueCodec(u8),
    #[error("unknown integer-sequence codec id {0}")]
    UnknownIntegerCodec(u8),
    #[error("unknown compression id {0}")]
    UnknownCompression(u8),
    #[error("invalid sample count {0}: a block holds 1..=8192 samples")]
    InvalidSampleCount(u64),
    #[error("varint is longer than 10 bytes or overflows 64 bits")]
    InvalidVarint,
    #[error("zstd decompression failed: {0}")]
    Decompression(String),
    #[error("{0} unexpected bytes after the end of the block")]
    TrailingBytes(usize),
    #[error("corrupt block: {0}")]
    Corrupt(&'static str),
}
