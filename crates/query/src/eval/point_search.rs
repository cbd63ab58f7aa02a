//! Locating an evaluation time among a series' points.
//!
//! Every step of a query cuts every selected series at its evaluation time, so this
//! runs series × steps × 2 times per selector; as a binary search it was the largest
//! part of evaluation in profiles (a chain of ~log2(n) dependent loads per cut).
//! Scraped series are close to evenly spaced, so the index is first guessed from the
//! series' average spacing, then corrected by galloping away from the guess: usually
//! one or two probes on one cache line. The answer is always exactly
//! `points.partition_point(|p| p.t <= t)`; uneven spacing only costs more probes.

use crate::value::FPoint;

/// How many of `points` (sorted by time) have `p.t <= t`.
pub(crate) fn count_at_or_before(points: &[FPoint], t: i64) -> usize {
    let n = points.len();
    if n == 0 || points[0].t > t {
        return 0;
    }
    let (first, last) = (points[0].t, points[n - 1].t);
    if last <= t {
        return n;
    }
    // Now points[0].t <= t < points[n-1].t, so n >= 2 and the answer is in [1, n-1].
    // The guess is only a starting point, so float arithmetic is precise enough
    // (exact 128-bit integer division took a library call per search).
    let fraction = t.abs_diff(first) as f64 / last.abs_diff(first) as f64;
    let guess = ((fraction * (n - 1) as f64) as usize).min(n - 2);
    // Narrow [lo, hi] around the answer, keeping points[lo-1].t <= t < points[hi].t.
    let (lo, hi) = if points[guess].t <= t {
        let (mut lo, mut step) = (guess + 1, 1);
        let hi = loop {
            let probe = guess + step;
            if probe >= n - 1 {
                break n - 1;
            }
            if points[probe].t > t {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        (lo, hi)
    } else {
        let (mut hi, mut step) = (guess, 1);
        let lo = loop {
            if step > guess {
                break 1;
            }
            let probe = guess - step;
            if points[probe].t <= t {
                break probe + 1;
            }
            hi = probe;
            step *= 2;
        };
        (lo, hi)
    };
    lo + points[lo..hi].partition_point(|p| p.t <= t)
}

/// [`count_at_or_before`] for a caller whose times only grow: `from` is an earlier
/// answer (so `points[..from]` are all `<= t`), and the search gallops forward from
/// it. Stepping through a query's steps this way costs a probe or two per step,
/// without a guess from the series' average spacing.
pub(crate) fn count_at_or_before_from(points: &[FPoint], t: i64, from: usize) -> usize {
    debug_assert!(from <= points.len());
    debug_assert!(from == 0 || points[from - 1].t <= t);
    let (mut lo, mut step) = (from, 1);
    // Keep points[..lo] <= t; find the first probe past t.
    let hi = loop {
        let probe = lo + step - 1;
        if probe >= points.len() {
            break points.len();
        }
        if points[probe].t > t {
            break probe;
        }
        lo = probe + 1;
        step *= 2;
    };
    lo + points[lo..hi].partition_point(|p| p.t <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(ts: &[i64]) -> Vec<FPoint> {
        ts.iter().map(|&t| FPoint { t, f: 0.0 }).collect()
    }

    fn check(ts: &[i64], probes: impl IntoIterator<Item = i64>) {
        let p = points(ts);
        let mut probes: Vec<i64> = probes.into_iter().collect();
        for &t in &probes {
            assert_eq!(
                count_at_or_before(&p, t),
                p.partition_point(|x| x.t <= t),
                "t={t} in {ts:?}"
            );
        }
        // The cursor form, over the same probes in ascending order.
        probes.sort_unstable();
        let mut at = 0;
        for &t in &probes {
            at = count_at_or_before_from(&p, t, at);
            assert_eq!(
                at,
                p.partition_point(|x| x.t <= t),
                "cursor t={t} in {ts:?}"
            );
        }
    }

    #[test]
    fn matches_binary_search_on_edges_and_regular_series() {
        check(&[], [0, i64::MIN, i64::MAX]);
        check(&[5], [4, 5, 6]);
        check(&[i64::MIN, i64::MAX], [i64::MIN, 0, i64::MAX - 1, i64::MAX]);
        let regular: Vec<i64> = (0..200).map(|i| 1_000 + i * 15_000).collect();
        check(&regular, (-20..3_100).map(|i| i * 997));
    }

    #[test]
    fn matches_binary_search_on_uneven_series_and_duplicates() {
        // A deterministic generator: gaps from 1 ms to hours, some repeated times.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let n = (next() % 64) as usize;
            let mut t = (next() % 1_000_000) as i64 - 500_000;
            let mut ts = Vec::with_capacity(n);
            for _ in 0..n {
                t += match next() % 4 {
                    0 => 0,
                    1 => (next() % 10) as i64,
                    2 => 15_000,
                    _ => (next() % 10_000_000) as i64,
                };
                ts.push(t);
            }
            let lo = ts.first().copied().unwrap_or(0) - 20;
            let hi = ts.last().copied().unwrap_or(0) + 20;
            let mut probes: Vec<i64> = ts.iter().flat_map(|&t| [t - 1, t, t + 1]).collect();
            probes.extend((0..50).map(|_| lo + (next() % ((hi - lo) as u64 + 1)) as i64));
            check(&ts, probes);
        }
    }
}
