//! Block codecs: timestamps and values of one series, compressed.
//!
//! A block holds 1..=[`MAX_BLOCK_SAMPLES`] samples and describes itself (format
//! version, sample kind, codec ids, count, lengths), so parts can store blocks
//! back to back. Every codec is lossless, bit for bit, including NaN payloads
//! such as the stale marker.
//!
//! - timestamps: linear (fixed interval), delta or delta-of-delta varints;
//! - values: one constant, decimal mantissas with a shared exponent coded like
//!   timestamps (exceptions stored raw), or XOR with the previous value;
//! - zstd over the whole body when it saves bytes.

mod block;
mod decimal;
mod error;
mod intseq;
mod timestamps;
mod values;
mod varint;
mod xor;

pub use block::{
    block_sample_count, decode_block, encode_block, FORMAT_VERSION, MAX_BLOCK_SAMPLES,
};
pub use error::EncodingError;
