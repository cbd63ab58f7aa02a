#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::opentsdb;

fuzz_target!(|data: &[u8]| {
    if let Ok(series) = opentsdb::parse_http(data, 0) {
        tidemark_fuzz::check_series(&series);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(series) = opentsdb::parse_telnet(text) {
            tidemark_fuzz::check_series(&series);
        }
    }
});
