//! Vector and matrix selectors: prefetching from the [`Queryable`] and cutting
//! per-step samples and windows with Prometheus 3.x semantics (left-open windows,
//! 5m lookback, stale markers end a series).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use tidemark_model::{is_stale_nan, CounterResetHint, Labels, Sample};

use crate::functions::native_histogram::{counter, notes};

use super::point_search::count_at_or_before;
use super::{Elem, Evaluator, Matrix, RangeElem};
use crate::ast::{Expr, MatrixSelector, RangeMode, VectorSelector};
use crate::value::{FPoint, HPoint, QueryError};
use crate::{Queryable, SelectedSeries};

/// One fetched series: its labels and its points sorted by time.
#[derive(Debug)]
pub(crate) struct SeriesData {
    pub labels: Arc<Labels>,
    /// For instant selectors stale markers are kept (they end the lookback); for
    /// range selectors they are removed (Prometheus drops them from windows).
    pub points: Vec<FPoint>,
    /// Start (created) timestamps of `points`, index for index, or empty when the
    /// source knows none; 0 entries are unknown too. Read by the counter functions.
    pub start_timestamps: Vec<i64>,
    /// Start timestamps parallel to `hpoints`, or empty when unknown.
    pub hstart_timestamps: Vec<i64>,
    /// Native histogram samples, sorted by time. Stale markers are floats, so they
    /// live in `points` even for histogram series.
    pub hpoints: Vec<HPoint>,
}

/// What one selector node needs from storage: `(mint, maxt]` over all steps.
pub(super) struct Need {
    pub mint: i64,
    pub maxt: i64,
    pub keep_stale: bool,
}

/// Storage bounds are inclusive; selector windows are left-open.
fn storage_range(need: &Need) -> (i64, i64) {
    (need.mint.saturating_add(1), need.maxt)
}

/// Selector nodes of `ast` whose data [`prefetch`] leaves to the caller (their
/// series are streamed from the [`Queryable`] instead), with what they need.
pub(super) type Deferred<'x> = Vec<(&'x VectorSelector, Need)>;

/// Fetches the data of every selector in `ast` for the whole evaluation, except
/// the selectors listed in `deferred_ids`, which are returned with their needs.
pub(super) fn prefetch<'x>(
    ev: &Evaluator<'_>,
    q: &dyn Queryable,
    ast: &'x Expr,
    deferred_ids: &[usize],
) -> Result<(HashMap<usize, Vec<SeriesData>>, Deferred<'x>), QueryError> {
    let mut needs: Vec<(&VectorSelector, Need)> = Vec::new();
    plan(ev, ast, ev.start, ev.end, &mut needs)?;
    let mut out = HashMap::with_capacity(needs.len());
    let mut deferred = Vec::new();
    let stats_only = super::stats_decoding::stats_only_selectors(ast);
    for (vs, need) in needs {
        if deferred_ids.contains(&vs.id) {
            deferred.push((vs, need));
            continue;
        }
        let data = load(ev, q, vs, &need, stats_only.contains(&vs.id))?;
        out.insert(vs.id, data);
    }
    Ok((out, deferred))
}

/// Selects the series of `vs` for the whole evaluation, in label order.
pub(super) fn load(
    ev: &Evaluator<'_>,
    q: &dyn Queryable,
    vs: &VectorSelector,
    need: &Need,
    stats_only: bool,
) -> Result<Vec<SeriesData>, QueryError> {
    ev.check_alive()?;
    let (start, end) = storage_range(need);
    let series = q.select(&vs.matchers, start, end)?;
    let mut data = Vec::with_capacity(series.len());
    for s in series {
        let s = series_data(s, need.keep_stale, stats_only);
        ev.charge_samples(s.points.len() + s.hpoints.len())?;
        data.push(s);
    }
    // Sources usually return label order already; a sorted input is one pass.
    if !data.is_sorted_by(|a, b| a.labels <= b.labels) {
        data.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(data)
}

/// Reads the series of `vs` batch by batch (see [`Queryable::select_batches`]).
pub(super) fn select_batches<'q>(
    q: &'q dyn Queryable,
    vs: &VectorSelector,
    need: &Need,
) -> Result<Box<dyn crate::SeriesBatches + 'q>, QueryError> {
    let (start, end) = storage_range(need);
    q.select_batches(&vs.matchers, start, end)
}

/// A selected series in the evaluator's form. The samples become points in place
/// (the two layouts match, so no second copy is made). `stats_only`: the series'
/// histograms are read by count/sum functions only (see [`super::stats_decoding`]).
pub(super) fn series_data(s: SelectedSeries, keep_stale: bool, stats_only: bool) -> SeriesData {
    let SelectedSeries {
        labels,
        floats,
        float_start_timestamps,
        histograms,
        histogram_start_timestamps,
    } = s;
    let hstart_timestamps = if histogram_start_timestamps.len() == histograms.len() {
        histogram_start_timestamps
    } else {
        Vec::new()
    };
    let mut hpoints: Vec<HPoint> = histograms
        .into_iter()
        .map(|x| HPoint {
            t: x.timestamp,
            h: Arc::new(x.histogram),
        })
        .collect();
    if stats_only && !hpoints.is_empty() {
        let float_times: Vec<i64> = floats.iter().map(|x| x.timestamp).collect();
        super::stats_decoding::rederive_hints(&mut hpoints, &float_times);
    }
    let (points, start_timestamps) = float_points(floats, float_start_timestamps, keep_stale);
    SeriesData {
        labels,
        points,
        start_timestamps,
        hpoints,
        hstart_timestamps,
    }
}

/// A series' float samples as points, stale markers dropped unless `keep_stale`,
/// with their start timestamps kept index for index (empty if the source gave none
/// or, against its contract, not one per sample).
fn float_points(
    floats: Vec<Sample>,
    start_timestamps: Vec<i64>,
    keep_stale: bool,
) -> (Vec<FPoint>, Vec<i64>) {
    let keep = |value: f64| keep_stale || !is_stale_nan(value);
    let start_timestamps = if start_timestamps.len() != floats.len() {
        Vec::new()
    } else if floats.iter().all(|x| keep(x.value)) {
        start_timestamps
    } else {
        floats
            .iter()
            .zip(&start_timestamps)
            .filter(|(x, _)| keep(x.value))
            .map(|(_, &st)| st)
            .collect()
    };
    let points = floats
        .into_iter()
        .filter(|x| keep(x.value))
        .map(|x| FPoint {
            t: x.timestamp,
            f: x.value,
        })
        .collect();
    (points, start_timestamps)
}

/// Walks the tree with the interval `[lo, hi]` of timestamps at which `e` will be
/// evaluated, recording each selector's storage window.
fn plan<'x>(
    ev: &Evaluator<'_>,
    e: &'x Expr,
    lo: i64,
    hi: i64,
    out: &mut Vec<(&'x VectorSelector, Need)>,
) -> Result<(), QueryError> {
    match e {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::Paren(x) | Expr::Neg(x) => plan(ev, x, lo, hi, out)?,
        Expr::VectorSelector(vs) => {
            let (lo, hi) = shifted(ev, vs, lo, hi)?;
            // `smoothed` also reads the first sample after the evaluation time.
            let after = if vs.smoothed {
                ev.opts.lookback_delta_ms
            } else {
                0
            };
            let need = Need {
                mint: lo - ev.opts.lookback_delta_ms,
                maxt: hi + after,
                keep_stale: true,
            };
            out.push((vs, need));
        }
        Expr::MatrixSelector(ms) => {
            let (lo, hi) = shifted(ev, &ms.vs, lo, hi)?;
            let range = ev.duration_ms(&ms.range)?;
            // anchored/smoothed also read the samples around the window edges.
            let (extra_lo, extra_hi) = match ms.mode {
                RangeMode::Plain => (0, 0),
                RangeMode::Anchored => (ev.opts.lookback_delta_ms, 0),
                RangeMode::Smoothed => (ev.opts.lookback_delta_ms, ev.opts.lookback_delta_ms),
            };
            out.push((
                &ms.vs,
                Need {
                    mint: lo - range - extra_lo,
                    maxt: hi + extra_hi,
                    keep_stale: false,
                },
            ));
        }
        Expr::Subquery(sq) => {
            let (mut lo, mut hi) = (lo, hi);
            if let Some(at) = &sq.at {
                lo = ev.at_time(at);
                hi = lo;
            }
            let offset = match &sq.offset {
                Some(o) => ev.duration_ms(o)?,
                None => 0,
            };
            let range = ev.duration_ms(&sq.range)?;
            plan(ev, &sq.expr, lo - offset - range, hi - offset, out)?;
        }
        Expr::Binary(b) => {
            plan(ev, &b.lhs, lo, hi, out)?;
            plan(ev, &b.rhs, lo, hi, out)?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                plan(ev, p, lo, hi, out)?;
            }
            plan(ev, &a.expr, lo, hi, out)?;
        }
        Expr::Call(c) if c.func == "info" && c.args.len() == 2 => {
            plan(ev, &c.args[0], lo, hi, out)?;
            // Info series are read as of the base series' reference time.
            let (a, b) = (
                ev.reference_time(&c.args[0], lo)?,
                ev.reference_time(&c.args[0], hi)?,
            );
            plan(ev, &c.args[1], a.min(b), a.max(b), out)?;
        }
        Expr::Call(c) => {
            for a in &c.args {
                plan(ev, a, lo, hi, out)?;
            }
        }
    }
    Ok(())
}

/// Applies `@` and `offset` to an evaluation interval.
fn shifted(
    ev: &Evaluator<'_>,
    vs: &VectorSelector,
    lo: i64,
    hi: i64,
) -> Result<(i64, i64), QueryError> {
    let (lo, hi) = match &vs.at {
        Some(at) => {
            let t = ev.at_time(at);
            (t, t)
        }
        None => (lo, hi),
    };
    let off = match &vs.offset {
        Some(o) => ev.duration_ms(o)?,
        None => 0,
    };
    Ok((lo - off, hi - off))
}

impl Evaluator<'_> {
    /// The reference time of a selector evaluated at `t`: `@` time (or `t`) minus offset.
    pub(crate) fn selector_time(&self, vs: &VectorSelector, t: i64) -> Result<i64, QueryError> {
        let base = vs.at.as_ref().map_or(t, |a| self.at_time(a));
        let off = match &vs.offset {
            Some(o) => self.duration_ms(o)?,
            None => 0,
        };
        Ok(base - off)
    }

    pub(super) fn series_of(&self, id: usize) -> &[SeriesData] {
        self.data.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Like [`Evaluator::vector_selector`], also returning each sample's timestamp.
    pub(crate) fn vector_selector_with_time(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<(Elem, i64)>, QueryError> {
        let ref_t = self.selector_time(vs, t)?;
        Ok(self
            .series_of(vs.id)
            .iter()
            .filter_map(|s| self.sample_at(vs, s, ref_t))
            .collect())
    }

    /// The sample an instant selector picks from one series at reference time
    /// `ref_t` (`@` and `offset` applied), with its timestamp; `None` when the
    /// lookback finds nothing or the series went stale.
    pub(crate) fn sample_at(
        &self,
        vs: &VectorSelector,
        s: &SeriesData,
        ref_t: i64,
    ) -> Option<(Elem, i64)> {
        let lookback = self.opts.lookback_delta_ms;
        // The newest histogram at or before ref_t wins over an older float (or
        // stale marker); then the float logic below does not apply.
        let idx = count_at_or_before(&s.points, ref_t);
        let hidx = s.hpoints.partition_point(|p| p.t <= ref_t);
        if hidx > 0 {
            let hp = &s.hpoints[hidx - 1];
            if (idx == 0 || s.points[idx - 1].t < hp.t) && hp.t > ref_t - lookback {
                let (mut h, mut at) = (hp.h.clone(), hp.t);
                if vs.smoothed && hp.t < ref_t {
                    // Interpolate towards the next histogram, if there is one in reach.
                    let next = s.hpoints.get(hidx).filter(|n| n.t < ref_t + lookback);
                    let next_float = s.points.get(idx).map(|p| p.t);
                    if next_float.is_some_and(|ft| ft < ref_t + lookback)
                        && next.is_none_or(|n| next_float.is_some_and(|ft| ft < n.t))
                    {
                        let metric = s.labels.metric_name().unwrap_or("");
                        self.warn(notes::mixed_floats_histograms(metric), vs.pos);
                        return None;
                    }
                    if let Some(n) = next {
                        let counter = hp.h.counter_reset_hint != CounterResetHint::Gauge
                            && n.h.counter_reset_hint != CounterResetHint::Gauge;
                        let Some(mid) = counter::interpolate(hp, n, ref_t, counter) else {
                            let metric = s.labels.metric_name().unwrap_or("");
                            self.warn(notes::mixed_exponential_custom(metric), vs.pos);
                            return None;
                        };
                        h = Arc::new(mid);
                        at = ref_t;
                    }
                }
                return Some((
                    Elem {
                        labels: s.labels.clone(),
                        f: 0.0,
                        h: Some(h),
                        drop_name: false,
                    },
                    at,
                ));
            }
        }
        if idx == 0 {
            return None;
        }
        let p = s.points[idx - 1];
        if p.t <= ref_t - lookback || is_stale_nan(p.f) {
            return None;
        }
        if vs.smoothed && p.t < ref_t {
            // A histogram next cannot be interpolated towards.
            let next_float = s.points.get(idx).map(|p| p.t);
            if s.hpoints
                .get(hidx)
                .is_some_and(|n| n.t < ref_t + lookback && next_float.is_none_or(|ft| n.t < ft))
            {
                let metric = s.labels.metric_name().unwrap_or("");
                self.warn(notes::mixed_floats_histograms(metric), vs.pos);
                return None;
            }
            // Interpolate towards the next sample, if there is one in reach.
            if let Some(n) = s
                .points
                .get(idx)
                .filter(|n| n.t < ref_t + lookback && !is_stale_nan(n.f))
            {
                let f = p.f + (n.f - p.f) * (ref_t - p.t) as f64 / (n.t - p.t) as f64;
                return Some((
                    Elem {
                        h: None,
                        labels: s.labels.clone(),
                        f,
                        drop_name: false,
                    },
                    ref_t,
                ));
            }
        }
        Some((
            Elem {
                h: None,
                labels: s.labels.clone(),
                f: p.f,
                drop_name: false,
            },
            p.t,
        ))
    }

    /// The float an instant selector without `smoothed` picks at reference time
    /// `ref_t` from series `s`, which holds no histograms: what
    /// [`Self::sample_at`] picks there, without building an element.
    pub(crate) fn latest_float(&self, s: &SeriesData, ref_t: i64) -> Option<f64> {
        debug_assert!(s.hpoints.is_empty());
        let idx = count_at_or_before(&s.points, ref_t);
        self.fresh_float(s.points[..idx].last(), ref_t)
    }

    /// The value of `latest`, a series' last point at or before `ref_t`, if it is
    /// inside the lookback window and not a stale marker.
    pub(crate) fn fresh_float(&self, latest: Option<&FPoint>, ref_t: i64) -> Option<f64> {
        let p = latest?;
        let fresh = p.t > ref_t - self.opts.lookback_delta_ms && !is_stale_nan(p.f);
        fresh.then_some(p.f)
    }

    /// `start_timestamp(selector)`: per series, the start timestamp (in seconds,
    /// 0 when unknown) of the sample the selector picks at `t`.
    pub(crate) fn selected_start_timestamps(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<Elem>, QueryError> {
        let ref_t = self.selector_time(vs, t)?;
        let lookback = self.opts.lookback_delta_ms;
        let mut out = Vec::new();
        for s in self.series_of(vs.id) {
            let idx = s.points.partition_point(|p| p.t <= ref_t);
            let hidx = s.hpoints.partition_point(|p| p.t <= ref_t);
            let float = idx.checked_sub(1).map(|i| (s.points[i], i));
            let hist = hidx.checked_sub(1).map(|i| (s.hpoints[i].t, i));
            let (sample_t, st) = match (float, hist) {
                (Some((p, _)), Some((ht, hi))) if ht > p.t => {
                    (ht, s.hstart_timestamps.get(hi).copied())
                }
                (None, Some((ht, hi))) => (ht, s.hstart_timestamps.get(hi).copied()),
                (Some((p, i)), _) if !is_stale_nan(p.f) => {
                    (p.t, s.start_timestamps.get(i).copied())
                }
                _ => continue,
            };
            if sample_t <= ref_t - lookback {
                continue;
            }
            out.push(Elem {
                labels: s.labels.clone(),
                f: st.unwrap_or(0) as f64 / 1000.0,
                h: None,
                drop_name: true,
            });
        }
        Ok(out)
    }

    /// An instant vector selector at `t`.
    pub(crate) fn vector_selector(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<Elem>, QueryError> {
        Ok(self
            .vector_selector_with_time(vs, t)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// A range selector at `t`: the points in `(ref-range, ref]` per series, plus the
    /// neighbours outside the window that `anchored`/`smoothed` need.
    pub(crate) fn matrix_selector<'e>(
        &'e self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<Matrix<'e>, QueryError> {
        let ref_t = self.selector_time(&ms.vs, t)?;
        let range = self.duration_ms(&ms.range)?;
        let range_start = ref_t - range;
        let series = self
            .series_of(ms.vs.id)
            .iter()
            .filter_map(|s| self.series_window(s, ms.mode, range_start, ref_t))
            .collect();
        Ok(Matrix {
            series,
            range_start,
            range_end: ref_t,
            mode: ms.mode,
        })
    }

    /// One series' window `(range_start, ref_t]` as a range selector written with
    /// `mode` cuts it, or `None` when nothing of the series falls in it.
    pub(crate) fn series_window<'e>(
        &'e self,
        s: &'e SeriesData,
        mode: RangeMode,
        range_start: i64,
        ref_t: i64,
    ) -> Option<RangeElem<'e>> {
        let mut hlo = s.hpoints.partition_point(|p| p.t <= range_start);
        let mut hhi = s.hpoints.partition_point(|p| p.t <= ref_t);
        let reach = self.opts.lookback_delta_ms;
        if mode != RangeMode::Plain && hlo > 0 && s.hpoints[hlo - 1].t > range_start - reach {
            hlo -= 1;
        }
        if mode == RangeMode::Smoothed && hhi < s.hpoints.len() && s.hpoints[hhi].t < ref_t + reach
        {
            hhi += 1;
        }
        let mut lo = count_at_or_before(&s.points, range_start);
        let mut hi = count_at_or_before(&s.points, ref_t);
        match mode {
            RangeMode::Plain => {}
            RangeMode::Anchored => {
                if lo > 0 && s.points[lo - 1].t > range_start - self.opts.lookback_delta_ms {
                    lo -= 1;
                }
            }
            RangeMode::Smoothed => {
                if lo > 0 && s.points[lo - 1].t > range_start - self.opts.lookback_delta_ms {
                    lo -= 1;
                }
                if hi < s.points.len() && s.points[hi].t < ref_t + self.opts.lookback_delta_ms {
                    hi += 1;
                }
            }
        }
        // A series mixing floats and histograms has one sample before the window
        // (and for smoothed one after it), whichever kind it is.
        if mode != RangeMode::Plain {
            let outside_before = |t: i64| t <= range_start;
            let f_anchor = lo < hi && outside_before(s.points[lo].t);
            let h_anchor = hlo < hhi && outside_before(s.hpoints[hlo].t);
            if f_anchor && h_anchor {
                if s.points[lo].t > s.hpoints[hlo].t {
                    hlo += 1;
                } else {
                    lo += 1;
                }
            }
            let f_after = lo < hi && s.points[hi - 1].t > ref_t;
            let h_after = hlo < hhi && s.hpoints[hhi - 1].t > ref_t;
            if f_after && h_after {
                if s.points[hi - 1].t < s.hpoints[hhi - 1].t {
                    hhi -= 1;
                } else {
                    hi -= 1;
                }
            }
        }
        let hpoints: &[HPoint] = &s.hpoints[hlo..hhi];
        if lo >= hi {
            if !hpoints.is_empty() {
                return Some(RangeElem {
                    labels: Cow::Borrowed(&s.labels),
                    points: Cow::Borrowed(&[]),
                    start_timestamps: &[],
                    hstart_timestamps: s.hstart_timestamps.get(hlo..hhi).unwrap_or(&[]),
                    hpoints: Cow::Borrowed(hpoints),
                    drop_name: false,
                });
            }
            return None;
        }
        // A smoothed window needs data on both sides of its boundaries: points
        // only before its start or only after its end give no result.
        if mode == RangeMode::Smoothed
            && (s.points[lo].t > ref_t || s.points[hi - 1].t <= range_start)
        {
            return None;
        }
        Some(RangeElem {
            labels: Cow::Borrowed(&s.labels),
            points: Cow::Borrowed(&s.points[lo..hi]),
            start_timestamps: s.start_timestamps.get(lo..hi).unwrap_or(&[]),
            hstart_timestamps: s.hstart_timestamps.get(hlo..hhi).unwrap_or(&[]),
            hpoints: Cow::Borrowed(hpoints),
            drop_name: false,
        })
    }
}
