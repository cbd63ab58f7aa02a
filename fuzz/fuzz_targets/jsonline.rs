#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::jsonline;

fuzz_target!(|data: &[u8]| {
    if let Ok(series) = jsonline::parse(data) {
        tidemark_fuzz::check_series(&series);
        // Export then import must give back the same series, bit for bit.
        let mut out = Vec::new();
        for s in &series {
            jsonline::write_series(s, &mut out);
        }
        assert_eq!(jsonline::parse(&out).expect("exported lines parse"), series);
    }
});
