#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_model::Sample;
use tidemark_protocols::remote_write::{decode_v1, decode_v1_borrowed, encode_v1_request};

/// Samples as bit patterns, so NaN payloads compare equal.
fn sample_bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // The input as a snappy body, the way senders post it.
    if let Ok(req) = decode_v1(data, tidemark_fuzz::MAX_DECODED_BYTES) {
        tidemark_fuzz::check_series(&req.series);
        // What decoded must re-encode and decode to the same request.
        let again =
            decode_v1(&encode_v1_request(&req), usize::MAX).expect("re-encoded request decodes");
        assert_eq!(again.series.len(), req.series.len());
        assert_eq!(again.metadata, req.metadata);
    }

    // The input as an already decompressed message: the borrowed decoder that ingestion
    // uses must accept and reject exactly what prost plus the owned validation do, and
    // produce the same series.
    let body = snap::raw::Encoder::new()
        .compress_vec(data)
        .expect("fuzz inputs are far below snappy's 4 GiB limit");
    match (decode_v1(&body, usize::MAX), decode_v1_borrowed(data)) {
        (Ok(owned), Ok(borrowed)) => {
            let borrowed = borrowed.to_owned_request();
            tidemark_fuzz::check_series(&borrowed.series);
            assert_eq!(owned.series.len(), borrowed.series.len());
            for (o, b) in owned.series.iter().zip(&borrowed.series) {
                assert_eq!(o.labels, b.labels);
                assert_eq!(sample_bits(&o.samples), sample_bits(&b.samples));
            }
            assert_eq!(owned.metadata, borrowed.metadata);
        }
        (Err(o), Err(b)) => assert_eq!(o.reason(), b.reason(), "{o} vs {b}"),
        (o, b) => panic!("decoders disagree: prost {o:?}, borrowed {:?}", b.map(|r| r.len())),
    }
});
