//! A bounded, deterministic mutation fuzzer that runs in the normal test suite on
//! stable Rust: the same decoders and invariants as the cargo-fuzz targets in `fuzz/`,
//! driven by byte-level mutations of valid seeds (flip, overwrite with interesting
//! bytes, insert, delete, duplicate, splice) instead of coverage feedback.

mod common;

use common::{decode_with, seed_bodies};

/// Iterations per decoder; `FUZZ_SMOKE_ITERATIONS` raises it for a longer local run.
fn iterations() -> usize {
    std::env::var("FUZZ_SMOKE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000)
}

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\x00\xff\x7f\x80\"\\{}[]=,: \n\r\t#.-+eE0123456789nNiI";

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, donors: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                input.drain(start..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = input[start..end].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            _ => {
                let donor = &donors[rng.below(donors.len())];
                if !donor.is_empty() {
                    let start = rng.below(donor.len());
                    let end = (start + 1 + rng.below(64)).min(donor.len());
                    let at = rng.below(len + 1);
                    input.splice(at..at, donor[start..end].iter().copied());
                }
            }
        }
    }
}

#[test]
fn mutated_seeds_never_panic() {
    let seeds = seed_bodies();
    let donors: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0usize;
    for (decoder, seed) in &seeds {
        let mut current = seed.clone();
        for i in 0..iterations() {
            // Restart from the seed now and then so mutations do not drift into pure noise.
            if i % 64 == 0 {
                current = seed.clone();
            }
            mutate(&mut rng, &mut current, &donors);
            current.truncate(1 << 16);
            if decode_with(decoder, &current).is_ok() {
                accepted += 1;
            }
        }
    }
    // Some mutants must still decode, or the mutations only ever test the first check.
    assert!(accepted > 0, "no mutated input decoded successfully");
}
