//! Range functions over one series' windows at ascending reference times.
//!
//! A range query evaluates `f(x[r])` at every step; cutting each step's window
//! out of the series with a search and rescanning all its points made the
//! dashboard functions (`irate`, `max_over_time`, …) cost O(points in window)
//! per step. When the reference times never decrease, a window's two ends only
//! move forward, so each point enters and leaves once:
//! * `max_over_time`/`min_over_time` keep a monotonic deque of candidates;
//! * `changes`/`resets` keep a running count of the transitions inside;
//! * every other kernel is run on the window's points found by the two forward
//!   pointers (`irate`/`idelta` without the kernel's indirect call). For the ones
//!   that read O(1) points (`irate`, `idelta`, `last_over_time`,
//!   `count_over_time`, `present_over_time`, …) that is the whole saving; sums
//!   and averages still rescan, so their summation order and therefore every
//!   result bit stays as it is.
//!
//! Results are exactly the kernels' on each plain window `(ref - range, ref]`
//! (tested below against [`super::range_kernel`] window by window).
//! `rate`/`increase`/`delta` slide elsewhere (the evaluator reports their
//! annotations); series with start timestamps or histograms are not handled here.

use super::{range_kernel, rate, RangeKernel, RangeMode, RangeWindow};
use crate::value::{FPoint, QueryError};

/// How one range function is computed over forward-moving windows.
#[derive(Clone, Copy)]
pub(crate) enum Sliding {
    /// The function's own kernel on each window's points.
    Kernel(RangeKernel),
    /// `irate` (`is_rate`) or `idelta`: [`rate::instant_value`] called directly,
    /// as these run for every series and step of the busiest dashboards.
    Instant { is_rate: bool },
    /// `max_over_time` (`max`) or `min_over_time`.
    Extreme { max: bool },
    /// `resets` (`resets`) or `changes`.
    Transitions { resets: bool },
}

impl Sliding {
    /// The sliding form of range function `name`, or `None` for the
    /// extrapolating functions and names without a float kernel.
    pub(crate) fn of(name: &str) -> Option<Sliding> {
        match name {
            // Slid with their counter drops and annotations by the evaluator.
            "rate" | "increase" | "delta" => None,
            "irate" => Some(Sliding::Instant { is_rate: true }),
            "idelta" => Some(Sliding::Instant { is_rate: false }),
            "max_over_time" => Some(Sliding::Extreme { max: true }),
            "min_over_time" => Some(Sliding::Extreme { max: false }),
            "resets" => Some(Sliding::Transitions { resets: true }),
            "changes" => Some(Sliding::Transitions { resets: false }),
            _ => range_kernel(name).map(Sliding::Kernel),
        }
    }

    /// The function over the plain windows `(ref_times[i] - range_ms, ref_times[i]]`
    /// of `points` (sorted by time, stale markers removed, no start timestamps),
    /// evaluated at `eval_times[i]`: calls `emit(i, value)` for every step with a
    /// result. `ref_times` must not decrease and `range_ms` must be positive,
    /// otherwise no window is evaluated and an internal error is returned.
    /// `scalars` are the function's other arguments (see [`RangeKernel`]).
    pub(crate) fn run(
        self,
        points: &[FPoint],
        range_ms: i64,
        ref_times: &[i64],
        eval_times: &[i64],
        scalars: &[f64],
        mut emit: impl FnMut(usize, f64),
    ) -> Result<(), QueryError> {
        let ascending = ref_times.windows(2).all(|w| w[0] <= w[1]);
        if !ascending || range_ms <= 0 || eval_times.len() != ref_times.len() {
            return Err(QueryError::Internal(
                "sliding windows need ascending reference times and a positive range".into(),
            ));
        }
        let Some(&first_ref) = ref_times.first() else {
            return Ok(());
        };
        let mut bounds = Bounds::starting_at(points, first_ref - range_ms);
        match self {
            Sliding::Kernel(kernel) => {
                for (i, (&ref_t, &eval_ms)) in ref_times.iter().zip(eval_times).enumerate() {
                    let range_start_ms = ref_t - range_ms;
                    bounds.slide_to(range_start_ms, ref_t);
                    if bounds.lo >= bounds.hi {
                        continue;
                    }
                    let w = RangeWindow {
                        points: &points[bounds.lo..bounds.hi],
                        start_timestamps: &[],
                        range_start_ms,
                        range_end_ms: ref_t,
                        eval_ms,
                        mode: RangeMode::Plain,
                    };
                    if let Some(f) = kernel(&w, scalars)? {
                        emit(i, f);
                    }
                }
            }
            Sliding::Instant { is_rate } => {
                for (i, &ref_t) in ref_times.iter().enumerate() {
                    bounds.slide_to(ref_t - range_ms, ref_t);
                    let window = &points[bounds.lo..bounds.hi];
                    if let Some(f) = rate::instant_value(window, &[], is_rate) {
                        emit(i, f);
                    }
                }
            }
            Sliding::Extreme { max: true } => {
                slide_extreme::<true>(points, range_ms, ref_times, bounds, emit)
            }
            Sliding::Extreme { max: false } => {
                slide_extreme::<false>(points, range_ms, ref_times, bounds, emit)
            }
            Sliding::Transitions { resets } => {
                let is_transition = |a: FPoint, b: FPoint| {
                    if resets {
                        b.f < a.f
                    } else {
                        a.f != b.f && !(a.f.is_nan() && b.f.is_nan())
                    }
                };
                // Transitions between consecutive points both inside [lo, hi).
                let mut count = 0usize;
                for (i, &ref_t) in ref_times.iter().enumerate() {
                    let (old_lo, old_hi) = (bounds.lo, bounds.hi);
                    bounds.slide_to(ref_t - range_ms, ref_t);
                    // First the points that entered (pairs reaching back to old_lo),
                    // then the ones that left (pairs whose right end is still in).
                    for j in old_hi..bounds.hi {
                        if j > old_lo && is_transition(points[j - 1], points[j]) {
                            count += 1;
                        }
                    }
                    for l in old_lo..bounds.lo {
                        if l + 1 < bounds.hi && is_transition(points[l], points[l + 1]) {
                            count -= 1;
                        }
                    }
                    if bounds.lo >= bounds.hi {
                        continue;
                    }
                    emit(i, count as f64);
                }
            }
        }
        Ok(())
    }
}

/// The points `[lo, hi)` of the current window `(start, end]`; both only grow.
struct Bounds<'p> {
    points: &'p [FPoint],
    lo: usize,
    hi: usize,
}

impl<'p> Bounds<'p> {
    /// Before the first window, whose exclusive start is `start`: the one search.
    fn starting_at(points: &'p [FPoint], start: i64) -> Self {
        let lo = points.partition_point(|p| p.t <= start);
        Bounds { points, lo, hi: lo }
    }

    /// Moves to window `(start, end]` (neither below the previous one's);
    /// returns the indices of the points that entered.
    fn slide_to(&mut self, start: i64, end: i64) -> std::ops::Range<usize> {
        let entered_from = self.hi;
        let n = self.points.len();
        while self.hi < n && self.points[self.hi].t <= end {
            self.hi += 1;
        }
        while self.lo < self.hi && self.points[self.lo].t <= start {
            self.lo += 1;
        }
        entered_from..self.hi
    }
}

/// `max_over_time` (`MAX`) or `min_over_time` over each window, from a
/// monotonic deque of candidates (see [`ExtremeDeque`]).
fn slide_extreme<const MAX: bool>(
    points: &[FPoint],
    range_ms: i64,
    ref_times: &[i64],
    mut bounds: Bounds<'_>,
    mut emit: impl FnMut(usize, f64),
) {
    let mut extreme = ExtremeDeque::<MAX>::default();
    for (i, &ref_t) in ref_times.iter().enumerate() {
        let entered = bounds.slide_to(ref_t - range_ms, ref_t);
        for j in entered {
            extreme.push(j, points[j].f);
        }
        if bounds.lo >= bounds.hi {
            continue;
        }
        emit(i, extreme.value(points, bounds.lo, bounds.hi));
    }
}

/// Candidates for the window's maximum (`MAX`) or minimum, by
/// [`super::over_time::max`]'s rules: NaN is skipped unless the window holds
/// nothing else (then the kernel's scan ends on the last point), and of equal
/// values the earliest wins (which tells `-0.0` from `0.0`).
#[derive(Default)]
struct ExtremeDeque<const MAX: bool> {
    /// `(index, value)` of non-NaN points; from `head` on, values non-increasing
    /// (max) or non-decreasing (min) front to back: each is the extreme of the
    /// points from it on. A vector with a moving head rather than a ring buffer:
    /// candidates leave the front only as the window passes them, and the vector
    /// restarts whenever it runs empty, so it stays small without index wrapping.
    candidates: Vec<(usize, f64)>,
    head: usize,
}

impl<const MAX: bool> ExtremeDeque<MAX> {
    /// Adds point `j` with value `v`, the newest of the window.
    fn push(&mut self, j: usize, v: f64) {
        if v.is_nan() {
            return;
        }
        // A candidate strictly beaten by a later point can never be the answer;
        // an equal one stays, being earlier.
        while let Some(&(_, b)) = self.candidates[self.head..].last() {
            let beaten = if MAX { b < v } else { b > v };
            if !beaten {
                break;
            }
            self.candidates.pop();
        }
        if self.candidates.len() == self.head {
            self.candidates.clear();
            self.head = 0;
        }
        self.candidates.push((j, v));
    }

    /// The extreme of the non-empty window `[lo, hi)`.
    fn value(&mut self, points: &[FPoint], lo: usize, hi: usize) -> f64 {
        while self.candidates.get(self.head).is_some_and(|&(j, _)| j < lo) {
            self.head += 1;
        }
        match self.candidates.get(self.head) {
            Some(&(_, v)) => v,
            None => points[hi - 1].f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::RANGE_FUNCTIONS;

    /// A deterministic xorshift generator.
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
    }

    /// Scrapes with jitter, duplicate-free times, long gaps, NaN, ±0, ±Inf,
    /// repeated values and counter resets.
    fn random_series(rng: &mut Rng) -> Vec<FPoint> {
        let interval = [1_000, 15_000, 60_000][rng.below(3) as usize];
        let mut t = rng.below(100_000) as i64 - 50_000;
        let mut counter = 0.0;
        let mut out = Vec::new();
        for _ in 0..rng.below(400) {
            let f = match rng.below(20) {
                0 => f64::NAN,
                1 => 0.0,
                2 => -0.0,
                3 => f64::INFINITY,
                4 => f64::NEG_INFINITY,
                5 => {
                    counter = 0.0;
                    counter
                }
                6..=9 => out.last().map_or(1.0, |p: &FPoint| p.f),
                10..=14 => {
                    counter += rng.below(1_000) as f64 / 8.0;
                    counter
                }
                _ => rng.below(50) as f64 - 25.0,
            };
            out.push(FPoint { t, f });
            t += match rng.below(30) {
                0 => 1,
                1 => 20 * interval,
                _ => interval + rng.below(interval as u64 / 10 + 1) as i64,
            };
        }
        out
    }

    fn bits(v: Option<f64>) -> Option<u64> {
        v.map(f64::to_bits)
    }

    /// Every sliding function gives each window exactly the kernel's result.
    #[test]
    fn sliding_equals_kernel_on_every_window() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut results_compared = 0;
        for round in 0..150 {
            let points = random_series(&mut rng);
            let range_ms = [1, 10_000, 60_000, 300_000, 1_800_000][rng.below(5) as usize];
            let step = [1_000, 10_000, 30_000, 120_000, 600_000][rng.below(5) as usize];
            let offset = [0, 0, 7_000][rng.below(3) as usize];
            let start = points.first().map_or(0, |p| p.t) - 100_000;
            let eval_times: Vec<i64> = (0..120).map(|k| start + k * step).collect();
            let mut ref_times: Vec<i64> = eval_times.iter().map(|t| t - offset).collect();
            if round % 10 == 0 {
                // `@` pins every step to one time.
                ref_times.iter_mut().for_each(|t| *t = start + 600_000);
            }
            for name in RANGE_FUNCTIONS {
                let Some(sliding) = Sliding::of(name) else {
                    continue;
                };
                let kernel = range_kernel(name).expect("a kernel");
                let scalars: &[f64] = match *name {
                    "quantile_over_time" => &[0.3],
                    "predict_linear" => &[60.0],
                    "double_exponential_smoothing" => &[0.5, 0.5],
                    _ => &[],
                };
                let mut got = vec![None; ref_times.len()];
                sliding
                    .run(
                        &points,
                        range_ms,
                        &ref_times,
                        &eval_times,
                        scalars,
                        |i, f| {
                            assert!(got[i].is_none(), "{name}: step {i} emitted twice");
                            got[i] = Some(f);
                        },
                    )
                    .expect("valid windows");
                for (i, (&ref_t, &eval_ms)) in ref_times.iter().zip(&eval_times).enumerate() {
                    let lo = points.partition_point(|p| p.t <= ref_t - range_ms);
                    let hi = points.partition_point(|p| p.t <= ref_t);
                    let want = if lo < hi {
                        let w = RangeWindow {
                            eval_ms,
                            ..RangeWindow::plain(&points[lo..hi], ref_t - range_ms, ref_t)
                        };
                        kernel(&w, scalars).expect("kernel")
                    } else {
                        None
                    };
                    assert_eq!(
                        bits(got[i]),
                        bits(want),
                        "{name} round {round} step {i}: window {lo}..{hi} range {range_ms}"
                    );
                    results_compared += usize::from(want.is_some());
                }
            }
        }
        // The generator must give mostly non-empty windows, or this tests little.
        assert!(results_compared > 100_000, "{results_compared} results");
    }

    #[test]
    fn extremes_keep_the_kernels_nan_and_signed_zero_rules() {
        let pts = |values: &[f64]| -> Vec<FPoint> {
            values
                .iter()
                .enumerate()
                .map(|(i, &f)| FPoint {
                    t: i as i64 * 1_000,
                    f,
                })
                .collect()
        };
        let run = |sliding: Sliding, points: &[FPoint], range_ms: i64| {
            let refs: Vec<i64> = (0..points.len() as i64).map(|i| i * 1_000).collect();
            let mut out = Vec::new();
            sliding
                .run(points, range_ms, &refs, &refs, &[], |_, f| {
                    out.push(f.to_bits())
                })
                .expect("valid windows");
            out
        };
        let max = Sliding::Extreme { max: true };
        let min = Sliding::Extreme { max: false };
        // Windows of two points: (NaN), (NaN 1), (1 NaN), (NaN NaN), (NaN 0.5).
        let p = pts(&[f64::NAN, 1.0, f64::NAN, f64::NAN, 0.5]);
        let want: Vec<u64> = [f64::NAN, 1.0, 1.0, f64::NAN, 0.5]
            .iter()
            .map(|f| f.to_bits())
            .collect();
        assert_eq!(run(max, &p, 2_000), want);
        // Equal values: the earliest wins, so -0 before 0 gives -0.
        let z = pts(&[-0.0, 0.0, -0.0]);
        let neg = (-0.0f64).to_bits();
        let pos = 0.0f64.to_bits();
        assert_eq!(run(max, &z, 3_000), vec![neg, neg, neg]);
        assert_eq!(run(min, &z, 2_000), vec![neg, neg, pos]);
    }

    #[test]
    fn bad_windows_are_an_error_not_a_panic() {
        let p = [FPoint { t: 0, f: 1.0 }];
        let max = Sliding::Extreme { max: true };
        assert!(max.run(&p, 0, &[0], &[0], &[], |_, _| {}).is_err());
        assert!(max
            .run(&p, 1_000, &[5, 0], &[5, 0], &[], |_, _| {})
            .is_err());
        assert!(max.run(&p, 1_000, &[], &[], &[], |_, _| {}).is_ok());
    }
}
