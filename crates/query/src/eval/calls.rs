//! Function calls: argument evaluation and dispatch to the kernels in
//! `crate::functions`, plus the functions that need evaluator context
//! (`absent`, `scalar`, `vector`, `time`, `timestamp`, `sort*`, date functions).

use std::sync::Arc;

use tidemark_model::{Labels, MatchOp, METRIC_NAME};

use super::native_calls::RangeOutcome;
use super::{Elem, Evaluator, Matrix, StepValue};
use crate::ast::{Call, Expr, RangeMode};
use crate::functions::{self, RangeWindow};
use crate::value::QueryError;

/// Range functions whose result still measures the input metric.
pub(super) fn range_fn_keeps_name(name: &str) -> bool {
    matches!(name, "last_over_time" | "first_over_time")
}

impl Evaluator<'_> {
    pub(crate) fn call<'e>(&'e self, c: &Call, t: i64) -> Result<StepValue<'e>, QueryError> {
        let name = c.func.as_str();
        if let Some(kernel) = functions::range_kernel(name) {
            return self.call_range_kernel(c, kernel, t);
        }
        if let Some(k) = functions::math::float_kernel(name) {
            let v = self.arg_vector(c, 0, t)?;
            return Ok(StepValue::Vector(map_values(v, k)));
        }
        if let Some(k) = functions::date::date_kernel(name) {
            if c.args.is_empty() {
                let v = Elem {
                    h: None,
                    labels: Arc::new(Labels::empty()),
                    f: t as f64 / 1000.0,
                    drop_name: false,
                };
                return Ok(StepValue::Vector(map_values(vec![v], k)));
            }
            let v = self.arg_vector(c, 0, t)?;
            return Ok(StepValue::Vector(map_values(v, k)));
        }
        match name {
            "time" => Ok(StepValue::Scalar(t as f64 / 1000.0)),
            "pi" => Ok(StepValue::Scalar(std::f64::consts::PI)),
            "vector" => {
                let f = self.arg_scalar(c, 0, t)?;
                Ok(StepValue::Vector(vec![Elem {
                    h: None,
                    labels: Arc::new(Labels::empty()),
                    f,
                    drop_name: false,
                }]))
            }
            "scalar" => {
                // Only float samples count; a histogram has no scalar value.
                let mut v = self.arg_vector(c, 0, t)?;
                v.retain(|e| e.h.is_none());
                Ok(StepValue::Scalar(if v.len() == 1 {
                    v[0].f
                } else {
                    f64::NAN
                }))
            }
            "round" => {
                let v = self.arg_vector(c, 0, t)?;
                let to = if c.args.len() > 1 {
                    self.arg_scalar(c, 1, t)?
                } else {
                    1.0
                };
                Ok(StepValue::Vector(map_values(v, |x| {
                    functions::math::round(x, to)
                })))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let v = self.arg_vector(c, 0, t)?;
                let (min, max) = match name {
                    "clamp" => (self.arg_scalar(c, 1, t)?, self.arg_scalar(c, 2, t)?),
                    "clamp_min" => (self.arg_scalar(c, 1, t)?, f64::INFINITY),
                    _ => (f64::NEG_INFINITY, self.arg_scalar(c, 1, t)?),
                };
                let out = v
                    .into_iter()
                    .filter(|e| e.h.is_none())
                    .filter_map(|e| {
                        functions::math::clamp(e.f, min, max).map(|f| Elem {
                            f,
                            drop_name: true,
                            ..e
                        })
                    })
                    .collect();
                Ok(StepValue::Vector(out))
            }
            "timestamp" => self.timestamp(c, t),
            "start_timestamp" => {
                // Only a selector still knows its samples' start timestamps.
                if let Some(Expr::VectorSelector(vs)) = c.args.first().map(Expr::unparen) {
                    return Ok(StepValue::Vector(self.selected_start_timestamps(vs, t)?));
                }
                self.arg_vector(c, 0, t)?;
                Ok(StepValue::Vector(Vec::new()))
            }
            "step" => Ok(StepValue::Scalar(self.step as f64 / 1000.0)),
            "info" => self.info_fn(c, t),
            "start" => Ok(StepValue::Scalar(self.start as f64 / 1000.0)),
            "end" => Ok(StepValue::Scalar(self.end as f64 / 1000.0)),
            "min_of" | "max_of" => {
                let (a, b) = (self.arg_scalar(c, 0, t)?, self.arg_scalar(c, 1, t)?);
                // Go's math.Min/Max: NaN wins.
                Ok(StepValue::Scalar(if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if name == "min_of" {
                    a.min(b)
                } else {
                    a.max(b)
                }))
            }
            "range" => Ok(StepValue::Scalar((self.end - self.start) as f64 / 1000.0)),
            "label_replace" => {
                let v = self.arg_vector(c, 0, t)?;
                let dst = self.arg_string(c, 1, t)?;
                let kernel = functions::labels::LabelReplace::new(
                    &dst,
                    &self.arg_string(c, 2, t)?,
                    &self.arg_string(c, 3, t)?,
                    &self.arg_string(c, 4, t)?,
                )?;
                let out = v
                    .into_iter()
                    .map(|e| match kernel.apply(&e.labels) {
                        Some(l) => Elem {
                            h: e.h.clone(),
                            labels: Arc::new(l),
                            drop_name: e.drop_name && dst != METRIC_NAME,
                            f: e.f,
                        },
                        None => e,
                    })
                    .collect();
                Ok(StepValue::Vector(out))
            }
            "label_join" => {
                let v = self.arg_vector(c, 0, t)?;
                let dst = self.arg_string(c, 1, t)?;
                let sep = self.arg_string(c, 2, t)?;
                let mut sources = Vec::new();
                for i in 3..c.args.len() {
                    sources.push(self.arg_string(c, i, t)?);
                }
                let srcs: Vec<&str> = sources.iter().map(String::as_str).collect();
                let kernel = functions::labels::LabelJoin::new(&dst, &sep, &srcs)?;
                let out = v
                    .into_iter()
                    .map(|e| Elem {
                        h: e.h.clone(),
                        labels: Arc::new(kernel.apply(&e.labels)),
                        drop_name: e.drop_name && dst != METRIC_NAME,
                        f: e.f,
                    })
                    .collect();
                Ok(StepValue::Vector(out))
            }
            "sort_by_label" | "sort_by_label_desc" => {
                self.warn_sort_in_range_query(c);
                let mut v = self.arg_vector(c, 0, t)?;
                let mut names = Vec::new();
                for i in 1..c.args.len() {
                    names.push(self.arg_string(c, i, t)?);
                }
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let desc = name == "sort_by_label_desc";
                v.sort_by(|a, b| {
                    let o = functions::labels::compare_by_labels(&a.labels, &b.labels, &names);
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
                Ok(StepValue::Vector(v))
            }
            "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => {
                self.classic_histogram(c, t)
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                let v = self.arg_vector(c, 0, t)?;
                Ok(StepValue::Vector(self.histogram_stat(name, v)))
            }
            "absent" => {
                let v = self.arg_vector(c, 0, t)?;
                Ok(StepValue::Vector(if v.is_empty() {
                    absent_labels(&c.args[0])
                } else {
                    Vec::new()
                }))
            }
            "absent_over_time" => {
                let m = self.arg_matrix(c, 0, t)?;
                Ok(StepValue::Vector(if m.series.is_empty() {
                    absent_labels(&c.args[0])
                } else {
                    Vec::new()
                }))
            }
            "sort" | "sort_desc" => {
                self.warn_sort_in_range_query(c);
                let mut v = self.arg_vector(c, 0, t)?;
                // Histograms have no order by value and are left out.
                v.retain(|e| e.h.is_none());
                let desc = name == "sort_desc";
                v.sort_by(|a, b| {
                    use std::cmp::Ordering;
                    match (a.f.is_nan(), b.f.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        _ if desc => b.f.partial_cmp(&a.f).unwrap_or(Ordering::Equal),
                        _ => a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal),
                    }
                });
                Ok(StepValue::Vector(v))
            }
            _ => Err(QueryError::BadData(format!(
                "function {name:?} is not supported"
            ))),
        }
    }

    fn arg<'e>(&'e self, c: &Call, i: usize, t: i64) -> Result<StepValue<'e>, QueryError> {
        let e = c.args.get(i).ok_or_else(|| {
            QueryError::BadData(format!(
                "expected at least {} argument(s) in call to {:?}",
                i + 1,
                c.func
            ))
        })?;
        self.eval(e, t)
    }

    fn arg_vector(&self, c: &Call, i: usize, t: i64) -> Result<Vec<Elem>, QueryError> {
        match self.arg(c, i, t)? {
            StepValue::Vector(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected type instant vector in call to function {:?}, got {}",
                c.func,
                other.type_name()
            ))),
        }
    }

    fn warn_sort_in_range_query(&self, c: &Call) {
        if self.step != 0 {
            self.warn(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels".into(),
                c.pos,
            );
        }
    }

    fn arg_string(&self, c: &Call, i: usize, t: i64) -> Result<String, QueryError> {
        match self.arg(c, i, t)? {
            StepValue::String(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected type string in call to function {:?}, got {}",
                c.func,
                other.type_name()
            ))),
        }
    }

    /// `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over
    /// classic `le` buckets.
    fn classic_histogram<'e>(&'e self, c: &Call, t: i64) -> Result<StepValue<'e>, QueryError> {
        enum Kind {
            /// One or more quantiles; with a label name for `histogram_quantiles`.
            Quantiles(Vec<f64>, Option<String>),
            Fraction(f64, f64),
        }
        let (kind, vector_arg) = match c.func.as_str() {
            "histogram_quantile" => (Kind::Quantiles(vec![self.arg_scalar(c, 0, t)?], None), 1),
            "histogram_quantiles" => {
                let label = self.arg_string(c, 1, t)?;
                let mut qs = Vec::new();
                for i in 2..c.args.len() {
                    qs.push(self.arg_scalar(c, i, t)?);
                }
                (Kind::Quantiles(qs, Some(label)), 0)
            }
            _ => (
                Kind::Fraction(self.arg_scalar(c, 0, t)?, self.arg_scalar(c, 1, t)?),
                2,
            ),
        };
        let v = self.arg_vector(c, vector_arg, t)?;
        if let Kind::Quantiles(qs, label) = &kind {
            for (i, q) in qs.iter().enumerate() {
                let q_arg = if label.is_some() { 2 + i } else { 0 };
                if let Some(w) = functions::annotations::invalid_quantile_warning(*q) {
                    self.warn(w, arg_pos(c, q_arg));
                }
            }
        }
        let vector_pos = arg_pos(c, vector_arg);
        let (natives, v): (Vec<Elem>, Vec<Elem>) = v.into_iter().partition(|e| e.h.is_some());
        let (groups, warnings) =
            functions::histogram::group_buckets(v.iter().map(|e| (&*e.labels, e.f)));
        for w in warnings {
            self.warn(w, vector_pos);
        }
        let mut out = Vec::with_capacity(groups.len() + natives.len());
        // A classic histogram and a native one with the same labels cannot be
        // told apart in the output: Prometheus drops both with a warning.
        let clashing: Vec<&tidemark_model::Labels> = groups
            .iter()
            .map(|g| &g.labels)
            .filter(|l| natives.iter().any(|n| *n.labels == **l))
            .collect();
        for l in &clashing {
            self.warn(
                functions::native_histogram::notes::mixed_classic_native(l.metric_name()),
                vector_pos,
            );
        }
        let clashing: Vec<tidemark_model::Labels> = clashing.into_iter().cloned().collect();
        for e in natives.iter().filter(|e| !clashing.contains(&e.labels)) {
            let h = e.h.as_ref().expect("partitioned on histograms");
            match &kind {
                Kind::Fraction(lower, upper) => {
                    let f = self.native_fraction(*lower, *upper, e, h, vector_pos);
                    out.push(Elem {
                        labels: e.labels.clone(),
                        f,
                        h: None,
                        drop_name: true,
                    });
                }
                Kind::Quantiles(qs, label) => {
                    for q in qs {
                        let f = self.native_quantile(*q, e, h, vector_pos);
                        let labels = match label {
                            Some(l) => {
                                let mut b = e.labels.builder();
                                b.set(l, &functions::go_fmt::openmetrics_float(*q));
                                Arc::new(b.build())
                            }
                            None => e.labels.clone(),
                        };
                        out.push(Elem {
                            labels,
                            f,
                            h: None,
                            drop_name: true,
                        });
                    }
                }
            }
        }
        for mut g in groups.into_iter().filter(|g| !clashing.contains(&g.labels)) {
            match &kind {
                Kind::Fraction(lower, upper) => {
                    let f = functions::histogram::bucket_fraction(*lower, *upper, &mut g.buckets);
                    out.push(Elem {
                        h: None,
                        labels: Arc::new(g.labels),
                        f,
                        drop_name: true,
                    });
                }
                Kind::Quantiles(qs, label) => {
                    for q in qs {
                        let (f, fix) = functions::histogram::bucket_quantile(*q, &mut g.buckets);
                        if fix.forced {
                            let msg = functions::annotations::forced_monotonicity_info(
                                g.labels.metric_name(),
                            );
                            self.info(msg, vector_pos);
                        }
                        let labels = match label {
                            Some(l) => {
                                let mut b = g.labels.builder();
                                b.set(l, &functions::go_fmt::openmetrics_float(*q));
                                b.build()
                            }
                            None => g.labels.clone(),
                        };
                        out.push(Elem {
                            h: None,
                            labels: Arc::new(labels),
                            f,
                            drop_name: true,
                        });
                    }
                }
            }
        }
        Ok(StepValue::Vector(out))
    }

    fn arg_scalar(&self, c: &Call, i: usize, t: i64) -> Result<f64, QueryError> {
        match self.arg(c, i, t)? {
            StepValue::Scalar(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected type scalar in call to function {:?}, got {}",
                c.func,
                other.type_name()
            ))),
        }
    }

    fn arg_matrix<'e>(&'e self, c: &Call, i: usize, t: i64) -> Result<Matrix<'e>, QueryError> {
        match self.arg(c, i, t)? {
            StepValue::Matrix(m) => Ok(m),
            other => Err(QueryError::BadData(format!(
                "expected type range vector in call to function {:?}, got {}",
                c.func,
                other.type_name()
            ))),
        }
    }

    /// Range-vector functions: the one matrix argument plus scalar arguments.
    fn call_range_kernel<'e>(
        &'e self,
        c: &Call,
        kernel: functions::RangeKernel,
        t: i64,
    ) -> Result<StepValue<'e>, QueryError> {
        let mut matrix = None;
        let mut matrix_arg = 0;
        let mut scalars = Vec::new();
        for (i, a) in c.args.iter().enumerate() {
            match self.eval(a, t)? {
                StepValue::Matrix(m) if matrix.is_none() => {
                    matrix = Some(m);
                    matrix_arg = i;
                }
                StepValue::Scalar(v) => scalars.push(v),
                other => {
                    return Err(QueryError::BadData(format!(
                        "unexpected {} as argument {} of {:?}",
                        other.type_name(),
                        i + 1,
                        c.func
                    )))
                }
            }
        }
        let m = matrix.ok_or_else(|| {
            QueryError::BadData(format!(
                "expected a range vector argument in call to {:?}",
                c.func
            ))
        })?;
        if c.func == "quantile_over_time" {
            if let Some(w) = scalars
                .first()
                .and_then(|q| functions::annotations::invalid_quantile_warning(*q))
            {
                self.warn(w, arg_pos(c, 0));
            }
        }
        check_range_mode(&c.func, m.mode)?;
        let pos = arg_pos(c, matrix_arg);
        let mut out = Vec::with_capacity(m.series.len());
        for s in &m.series {
            let window = (m.range_start, m.range_end, m.mode);
            if let Some(e) = self.range_call_series(c, kernel, s, window, t, &scalars, pos, true)? {
                out.push(e);
            }
        }
        Ok(StepValue::Vector(out))
    }

    /// Range function `c` (float kernel `kernel`) over one series' window
    /// `(range_start, range_end]` cut with `mode`, at evaluation time `t`;
    /// `matrix_pos` is where the range argument starts (for annotations).
    /// `check_name`: whether to look at the metric name for the "might not be a
    /// counter" info (a caller going through one series' windows does it once).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn range_call_series(
        &self,
        c: &Call,
        kernel: functions::RangeKernel,
        s: &super::RangeElem<'_>,
        (range_start, range_end, range_mode): (i64, i64, RangeMode),
        t: i64,
        scalars: &[f64],
        matrix_pos: crate::ast::Pos,
        check_name: bool,
    ) -> Result<Option<Elem>, QueryError> {
        let drop_name = s.drop_name || !range_fn_keeps_name(&c.func);
        let outcome = self.histogram_range_call(
            c,
            s,
            range_start,
            range_end,
            range_mode,
            drop_name,
            matrix_pos,
        );
        if let RangeOutcome::Done(e) = outcome {
            return Ok(e);
        }
        let mode = match range_mode {
            RangeMode::Plain => functions::RangeMode::Plain,
            RangeMode::Anchored => functions::RangeMode::Anchored,
            RangeMode::Smoothed => functions::RangeMode::Smoothed,
        };
        let w = RangeWindow {
            points: &s.points,
            start_timestamps: s.start_timestamps,
            range_start_ms: range_start,
            range_end_ms: range_end,
            eval_ms: t,
            mode,
        };
        let counter_fn = matches!(c.func.as_str(), "rate" | "increase");
        if counter_fn && !s.points.is_empty() {
            if let Some(i) = check_name
                .then(|| functions::annotations::possible_non_counter_info(s.labels.metric_name()))
                .flatten()
            {
                self.info(i, arg_pos(c, 0));
            }
            if functions::rate::start_timestamps_overlap(&s.points, s.start_timestamps) {
                let name = s.labels.metric_name().unwrap_or_default();
                let w = functions::annotations::start_timestamp_overlap_warning(name);
                self.warn(w, arg_pos(c, 0));
            }
        }
        Ok(kernel(&w, scalars)?.map(|f| Elem {
            h: None,
            labels: Arc::clone(&s.labels),
            f,
            drop_name,
        }))
    }

    /// `timestamp(v)`: the sample timestamps when `v` is a plain selector, else `t`.
    fn timestamp<'e>(&'e self, c: &Call, t: i64) -> Result<StepValue<'e>, QueryError> {
        if let Some(Expr::VectorSelector(vs)) = c.args.first().map(Expr::unparen) {
            let v = self.vector_selector_with_time(vs, t)?;
            return Ok(StepValue::Vector(
                v.into_iter()
                    .map(|(e, ts)| Elem {
                        f: ts as f64 / 1000.0,
                        h: None,
                        drop_name: true,
                        ..e
                    })
                    .collect(),
            ));
        }
        let v = self.arg_vector(c, 0, t)?;
        Ok(StepValue::Vector(
            v.into_iter()
                .map(|e| Elem {
                    f: t as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                    ..e
                })
                .collect(),
        ))
    }
}

/// `anchored`/`smoothed` windows only make sense for the functions that read
/// boundary values.
pub(super) fn check_range_mode(func: &str, mode: RangeMode) -> Result<(), QueryError> {
    let (allowed, name): (&[&str], &str) = match mode {
        RangeMode::Plain => return Ok(()),
        RangeMode::Anchored => (
            &["changes", "delta", "increase", "rate", "resets"],
            "anchored",
        ),
        RangeMode::Smoothed => (&["delta", "increase", "rate"], "smoothed"),
    };
    if allowed.contains(&func) {
        return Ok(());
    }
    Err(QueryError::BadData(format!(
        "{name} modifier can only be used with: {} - not with {func}",
        allowed.join(", ")
    )))
}

/// Where argument `i` of a call starts (the call itself if unknown).
pub(super) fn arg_pos(c: &Call, i: usize) -> crate::ast::Pos {
    c.arg_pos.get(i).copied().unwrap_or(c.pos)
}

/// Applies a per-element float function; the result no longer carries the metric name.
/// Histogram samples have no float to apply it to and are left out.
fn map_values(v: Vec<Elem>, f: impl Fn(f64) -> f64) -> Vec<Elem> {
    v.into_iter()
        .filter(|e| e.h.is_none())
        .map(|e| Elem {
            f: f(e.f),
            drop_name: true,
            ..e
        })
        .collect()
}

/// The single element `absent(...)` returns: the equality matchers of the argument
/// selector as labels (a label with any other matcher is left out).
fn absent_labels(arg: &Expr) -> Vec<Elem> {
    let matchers = match arg.unparen() {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers,
        _ => {
            return vec![Elem {
                h: None,
                labels: Arc::new(Labels::empty()),
                f: 1.0,
                drop_name: false,
            }]
        }
    };
    // Prometheus' createLabelsForAbsentFunction: a label matched twice is dropped
    // for good, even if a later matcher would set it again.
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
            pairs.push((&m.name, &m.value));
            seen.push(&m.name);
        } else {
            pairs.retain(|(n, _)| *n != m.name);
        }
    }
    vec![Elem {
        h: None,
        labels: Arc::new(Labels::from_pairs(pairs)),
        f: 1.0,
        drop_name: false,
    }]
}
