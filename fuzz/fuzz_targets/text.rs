#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::text;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = text::parse_bytes(data, 0) {
        tidemark_fuzz::check_series(&req.series);
        // Whatever parsed must survive the encoder and parse again.
        let body = text::encode(&req.series, &[]);
        let again =
            text::parse_flavor(&body, text::Flavor::Prometheus, 0).expect("encoded text parses");
        assert_eq!(again.series.len(), req.series.len());
    }
});
