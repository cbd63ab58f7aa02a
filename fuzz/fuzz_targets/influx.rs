#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_protocols::influx::{parse, Precision};

fuzz_target!(|data: &[u8]| {
    let precision = match data.first().map(|b| b % 6) {
        Some(0) => Precision::Seconds,
        Some(1) => Precision::Milliseconds,
        Some(2) => Precision::Microseconds,
        Some(3) => Precision::Minutes,
        Some(4) => Precision::Hours,
        _ => Precision::Nanoseconds,
    };
    if let Ok(series) = parse(data, precision, 0) {
        tidemark_fuzz::check_series(&series);
    }
});
