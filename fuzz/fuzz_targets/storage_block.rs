#![no_main]
//! Storage blocks read back from disk: garbage must give an error, never a panic, and
//! any samples the encoder accepts must decode bit-exactly.

use libfuzzer_sys::fuzz_target;
use tidemark_storage::encoding::{
    decode_block, decode_histogram_block, encode_block, MAX_BLOCK_SAMPLES,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // Arbitrary bytes as a float block, then as a histogram block.
        0 => {
            let (mut ts, mut vs) = (vec![7i64], vec![1.5f64]);
            if decode_block(rest, &mut ts, &mut vs).is_err() {
                assert_eq!((ts.len(), vs.len()), (1, 1), "failed decode left output");
            }
            assert_eq!(ts.len(), vs.len());
        }
        1 => {
            let mut out = Vec::new();
            let _ = decode_histogram_block(rest, &mut out);
        }
        // Bytes as (timestamp delta, value) pairs: encode, decode, compare bits.
        _ => {
            let mut ts = Vec::new();
            let mut vs = Vec::new();
            let mut t = 0i64;
            for chunk in rest.chunks_exact(12).take(MAX_BLOCK_SAMPLES) {
                let delta = i32::from_le_bytes(chunk[..4].try_into().unwrap());
                t = t.wrapping_add(i64::from(delta));
                ts.push(t);
                vs.push(f64::from_le_bytes(chunk[4..].try_into().unwrap()));
            }
            if ts.is_empty() {
                return;
            }
            let mut block = Vec::new();
            encode_block(&ts, &vs, &mut block);
            let (mut dts, mut dvs) = (Vec::new(), Vec::new());
            decode_block(&block, &mut dts, &mut dvs).expect("own block decodes");
            assert_eq!(dts, ts);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dvs), bits(&vs), "values must round-trip bit-exactly");
        }
    }
});
