#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::remote_write::{decode_v2, encode_v2};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = decode_v2(data, tidemark_fuzz::MAX_DECODED_BYTES) {
        tidemark_fuzz::check_series(&decoded.request.series);
        for h in &decoded.histograms {
            assert!(!h.samples.is_empty());
        }
        let again = decode_v2(&encode_v2(&decoded.request.series, &[]), usize::MAX)
            .expect("re-encoded request decodes");
        assert_eq!(again.request.series.len(), decoded.request.series.len());
    }
});
