#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::remote_write::{decode_v1, encode_v1_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode_v1(data, tidemark_fuzz::MAX_DECODED_BYTES) {
        tidemark_fuzz::check_series(&req.series);
        // What decoded must re-encode and decode to the same request.
        let again =
            decode_v1(&encode_v1_request(&req), usize::MAX).expect("re-encoded request decodes");
        assert_eq!(again.series.len(), req.series.len());
        assert_eq!(again.metadata, req.metadata);
    }
});
