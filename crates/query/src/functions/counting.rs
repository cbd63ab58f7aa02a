//! `resets` and `changes`: counting transitions between consecutive points.

use super::rate::is_start_timestamp_reset;
use super::{RangeMode, RangeWindow};
use crate::value::FPoint;

/// `resets`: how often the value dropped, or a start timestamp showed that the
/// counter restarted (see [`is_start_timestamp_reset`]).
pub(crate) fn resets(w: &RangeWindow<'_>) -> Option<f64> {
    let (offset, points) = relevant_points(w)?;
    let sts = w.start_timestamps;
    let n = points
        .windows(2)
        .enumerate()
        .filter(|(i, p)| {
            let j = offset + i;
            let st_reset =
                j + 1 < sts.len() && is_start_timestamp_reset(sts[j], p[0].t, sts[j + 1], p[1].t);
            p[1].f < p[0].f || st_reset
        })
        .count();
    Some(n as f64)
}

/// `changes`: how often the value changed; NaN → NaN is not a change.
pub(crate) fn changes(w: &RangeWindow<'_>) -> Option<f64> {
    let (_, points) = relevant_points(w)?;
    let n = points
        .windows(2)
        .filter(|p| p[0].f != p[1].f && !(p[0].f.is_nan() && p[1].f.is_nan()))
        .count();
    Some(n as f64)
}

/// The points to compare, with the index of the first one in `w.points`. An
/// anchored window starts at the last point at or before the window start and
/// needs at least one point inside the window.
fn relevant_points<'a>(w: &RangeWindow<'a>) -> Option<(usize, &'a [FPoint])> {
    let points = w.points;
    let last = points.last()?;
    if w.mode != RangeMode::Anchored {
        return Some((0, points));
    }
    if last.t <= w.range_start_ms {
        return None;
    }
    let first = points[..points.len() - 1]
        .partition_point(|p| p.t <= w.range_start_ms)
        .saturating_sub(1);
    Some((first, &points[first..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_support::evenly_spaced;

    fn pts(values: &[f64]) -> Vec<FPoint> {
        evenly_spaced(0, 10_000, values)
    }

    #[test]
    fn counts_drops_and_changes() {
        let p = pts(&[1.0, 2.0, 0.0, 0.0, 5.0, 3.0, f64::NAN, f64::NAN, 1.0]);
        let w = RangeWindow::plain(&p, -1, 80_000);
        // Drops: 2→0, 5→3. NaN comparisons are false.
        assert_eq!(resets(&w), Some(2.0));
        // Changes: 1→2, 2→0, 0→5, 5→3, 3→NaN, NaN→1 (NaN→NaN is not a change).
        assert_eq!(changes(&w), Some(6.0));
        let single = pts(&[4.0]);
        assert_eq!(changes(&RangeWindow::plain(&single, -1, 0)), Some(0.0));
        assert_eq!(changes(&RangeWindow::plain(&[], -1, 0)), None);
    }

    // start_timestamps.test "resets(cumulative[5m])": a start timestamp after the
    // previous sample is a reset even when the value keeps growing.
    #[test]
    fn start_timestamp_resets_count() {
        let p = pts(&[1.0, 2.0, 3.0]);
        let sts = [-5_000, 5_000, 6_000];
        let w = RangeWindow {
            start_timestamps: &sts,
            ..RangeWindow::plain(&p, -1, 20_000)
        };
        // 0→10s: ST 5s is after the 0s sample: reset. 10→20s: ST 6s is before 10s: none.
        assert_eq!(resets(&w), Some(1.0));
        assert_eq!(changes(&w), Some(2.0));
    }

    // extended_vectors.test "changes(metric[5m] anchored)" at 5m and
    // "resets(metric[5m] anchored)" at 5m30s over 1+1x10, 1 1+1x10, 99-1x10, 99 99-1x10.
    #[test]
    fn extended_vectors_anchored_counts() {
        let m = 60_000;
        let up: Vec<f64> = (1..=11).map(f64::from).collect();
        let up_dup: Vec<f64> = std::iter::once(1.0)
            .chain((1..=11).map(f64::from))
            .collect();
        let down: Vec<f64> = (0..=10).map(|i| 99.0 - f64::from(i)).collect();
        let down_dup: Vec<f64> = std::iter::once(99.0)
            .chain((0..=10).map(|i| 99.0 - f64::from(i)))
            .collect();
        let expected = [
            (up, 5.0, 0.0),
            (up_dup, 4.0, 0.0),
            (down, 5.0, 5.0),
            (down_dup, 4.0, 4.0),
        ];
        for (values, changes_at_5m, resets_at_5m30) in expected {
            let all: Vec<FPoint> = values
                .iter()
                .enumerate()
                .map(|(i, &f)| FPoint { t: i as i64 * m, f })
                .collect();
            let window = |start: i64, end: i64| {
                let to = all.partition_point(|p| p.t <= end);
                let from = all.partition_point(|p| p.t <= start).saturating_sub(1);
                all[from..to].to_vec()
            };
            let pts = window(0, 5 * m);
            let w = RangeWindow {
                mode: RangeMode::Anchored,
                ..RangeWindow::plain(&pts, 0, 5 * m)
            };
            assert_eq!(changes(&w), Some(changes_at_5m));
            let pts = window(30_000, 330_000);
            let w = RangeWindow {
                mode: RangeMode::Anchored,
                ..RangeWindow::plain(&pts, 30_000, 330_000)
            };
            assert_eq!(resets(&w), Some(resets_at_5m30));
        }
    }

    #[test]
    fn anchored_window_compares_with_the_sample_before_the_start() {
        let p = pts(&[5.0, 7.0, 1.0, 1.0]);
        // Window (15s, 30s]: anchored starts from the 10s point (7).
        let mut w = RangeWindow::plain(&p[1..], 15_000, 30_000);
        w.mode = RangeMode::Anchored;
        assert_eq!(resets(&w), Some(1.0));
        assert_eq!(changes(&w), Some(1.0));
        // Evaluator passes more history than needed: still starts at 7.
        let w2 = RangeWindow { points: &p, ..w };
        assert_eq!(changes(&w2), Some(1.0));
        // No point inside the window.
        let w3 = RangeWindow {
            points: &p[..2],
            ..w
        };
        assert_eq!(changes(&w3), None);
    }
}
