//! Every kernel must return (possibly NaN or nothing) rather than panic, whatever
//! the window: odd values, duplicate timestamps, bounds that do not enclose the
//! points, start timestamps that make no sense.

use super::test_support::RANGE_FUNCTIONS;
use super::{date, histogram, labels, math, range_kernel, RangeMode, RangeWindow};
use crate::value::FPoint;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn value(&mut self) -> f64 {
        const SPECIAL: [f64; 8] = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            -1.0,
        ];
        if self.below(5) == 0 {
            SPECIAL[self.below(8) as usize]
        } else {
            (self.below(2000) as f64 - 1000.0) / 7.0
        }
    }
}

#[test]
fn range_kernels_never_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..3000 {
        let n = rng.below(8) as usize;
        let mut t = rng.below(100_000) as i64 - 50_000;
        let points: Vec<FPoint> = (0..n)
            .map(|_| {
                t += rng.below(3) as i64 * 7_000; // sometimes the same timestamp twice
                FPoint { t, f: rng.value() }
            })
            .collect();
        let start_timestamps: Vec<i64> = match rng.below(3) {
            0 => Vec::new(),
            1 => points
                .iter()
                .map(|p| p.t - rng.below(20_000) as i64 + 5_000)
                .collect(),
            _ => (0..n)
                .map(|_| rng.below(200_000) as i64 - 100_000)
                .collect(),
        };
        let end = rng.below(120_000) as i64 - 40_000;
        let start = end - rng.below(60_000) as i64 + 5_000; // may exceed `end`
        let mode =
            [RangeMode::Plain, RangeMode::Anchored, RangeMode::Smoothed][rng.below(3) as usize];
        let w = RangeWindow {
            points: &points,
            start_timestamps: &start_timestamps,
            range_start_ms: start,
            range_end_ms: end,
            eval_ms: end,
            mode,
        };
        let args = [rng.value(), rng.value()];
        for name in RANGE_FUNCTIONS {
            let kernel = range_kernel(name).expect("kernel");
            // Errors are fine (invalid smoothing factors); panics are not.
            let _ = kernel(&w, &args);
        }
    }
}

#[test]
fn element_and_histogram_kernels_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..3000 {
        let v = rng.value();
        for name in [
            "abs", "ceil", "exp", "ln", "sqrt", "sgn", "acosh", "atanh", "deg",
        ] {
            math::float_kernel(name).expect("kernel")(v);
        }
        for name in [
            "year",
            "month",
            "day_of_month",
            "day_of_year",
            "day_of_week",
            "hour",
            "minute",
            "days_in_month",
        ] {
            date::date_kernel(name).expect("kernel")(v * 1e7);
            date::date_kernel(name).expect("kernel")(v);
        }
        let _ = math::round(v, rng.value());
        let _ = math::clamp(v, rng.value(), rng.value());
        let mut buckets: Vec<histogram::Bucket> = (0..rng.below(6))
            .map(|_| histogram::Bucket {
                upper_bound: rng.value(),
                count: rng.value(),
            })
            .collect();
        let _ = histogram::bucket_quantile(rng.value(), &mut buckets.clone());
        let _ = histogram::bucket_fraction(rng.value(), rng.value(), &mut buckets);
        let a = rng.below(10_000).to_string() + "x" + &rng.below(99).to_string();
        let b = "x".repeat(rng.below(3) as usize) + &rng.below(1_000).to_string();
        let _ = labels::natural_cmp(&a, &b);
    }
}
