//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, `limitk`, …) with
//! `by`/`without` grouping.

use std::collections::HashMap;
use std::sync::Arc;

use tidemark_model::Labels;

use super::labels_util::{
    drop_labels_and_name, keep_labels, push_signature_on, push_signature_without, Signature,
};
use super::series_keys::site_of;
use super::{Elem, Evaluator, StepValue};
use crate::ast::{AggOp, AggregateExpr, Grouping};
use crate::functions::go_fmt::percent_g;
use crate::functions::kahan::kahan_inc;
use crate::functions::native_histogram::{self, notes, HistogramSum};
use crate::functions::over_time::quantile;
use crate::value::QueryError;

/// The running value of a streaming operator over float members: small and
/// `Copy`, so series-major folds can keep one per group and step cheaply.
#[derive(Clone, Copy, Default)]
pub(super) struct FloatFold {
    count: f64,
    value: f64,
    kahan_c: f64,
    /// `avg` switched to incremental mean after the plain sum overflowed.
    incremental_mean: bool,
    mean: f64,
}

/// Running state of one output group.
pub(super) struct Group {
    labels: Labels,
    drop_name: bool,
    /// The float members folded so far (and `count`/`group`'s histogram members).
    float: FloatFold,
    /// Members, for the operators that need them all (`topk`, `quantile`, …).
    members: Vec<Elem>,
    /// Native histogram members of `sum`/`avg`, kept apart from the floats.
    hists: HistogramSum,
    hist_count: f64,
    /// `avg`'s histogram members (its mean may need them all again).
    hist_members: Vec<Arc<tidemark_model::FloatHistogram>>,
    /// A float-only operator skipped a histogram member.
    ignored_histogram: bool,
    /// The metric name of the first histogram member, for annotations.
    hist_metric: Option<String>,
}

impl Evaluator<'_> {
    pub(crate) fn aggregate<'e>(
        &'e self,
        a: &AggregateExpr,
        t: i64,
    ) -> Result<StepValue<'e>, QueryError> {
        let param = match &a.param {
            Some(p) => Some(self.eval(p, t)?),
            None => None,
        };
        let mut input = self.eval_vector(&a.expr, t)?;
        if matches!(a.op, AggOp::TopK | AggOp::BottomK | AggOp::Quantile)
            && input.iter().any(|e| e.h.is_some())
        {
            // These order or rank floats; histograms have no place in that.
            self.info(notes::ignored_in_aggregation(op_name(a.op)), a.expr_pos);
            input.retain(|e| e.h.is_none());
        }
        let out = match a.op {
            AggOp::CountValues => {
                let label = match param {
                    Some(StepValue::String(s)) => s,
                    _ => {
                        return Err(QueryError::BadData(
                            "count_values: expected string parameter".into(),
                        ))
                    }
                };
                if label.is_empty() {
                    return Err(QueryError::Execution(format!(
                        "invalid label name {label:?}"
                    )));
                }
                count_values(input, &label, a.grouping.as_ref())
            }
            AggOp::TopK | AggOp::BottomK | AggOp::LimitK => {
                let k = scalar_param(param, a.op)?;
                let k = k_param(k)?;
                let ids = self.group_ids(a, &input);
                k_select(a.op, input, &ids, k, a.grouping.as_ref())
            }
            AggOp::LimitRatio => {
                let r = scalar_param(param, a.op)?;
                if r.is_nan() {
                    return Err(QueryError::Execution("Ratio value is NaN".into()));
                }
                let r = if !(-1.0..=1.0).contains(&r) {
                    self.warn(format!(
                        "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                        percent_g(r),
                        if r < 0.0 { -1 } else { 1 }
                    ), a.param_pos);
                    r.clamp(-1.0, 1.0)
                } else {
                    r
                };
                input
                    .into_iter()
                    .filter(|e| limit_ratio_keeps(&e.labels, r))
                    .collect()
            }
            AggOp::Quantile => {
                let q = scalar_param(param, a.op)?;
                if let Some(w) = crate::functions::annotations::invalid_quantile_warning(q) {
                    self.warn(w, a.param_pos);
                }
                let ids = self.group_ids(a, &input);
                let groups = group(input, &ids, a.grouping.as_ref(), true);
                groups
                    .into_iter()
                    .map(|g| {
                        let mut values: Vec<f64> = g.members.iter().map(|e| e.f).collect();
                        Elem {
                            h: None,
                            labels: Arc::new(g.labels),
                            f: quantile(q, &mut values),
                            drop_name: g.drop_name,
                        }
                    })
                    .collect()
            }
            op => {
                let ids = self.group_ids(a, &input);
                let groups = group_fold(input, &ids, a.grouping.as_ref(), op);
                let mut out = Vec::with_capacity(groups.len());
                for g in groups {
                    if let Some(e) = self.finish_group(op, g, a) {
                        out.push(e);
                    }
                }
                out
            }
        };
        Ok(StepValue::Vector(out))
    }
}

impl Evaluator<'_> {
    /// The group id of every input element: equal ids mean equal group keys.
    /// Memoized per series for the whole query (see [`super::series_keys`]).
    fn group_ids(&self, a: &AggregateExpr, input: &[Elem]) -> Vec<u32> {
        let series: Vec<&Arc<Labels>> = input.iter().map(|e| &e.labels).collect();
        self.group_ids_of(a, &series)
    }

    /// [`Evaluator::group_ids`] of label sets.
    pub(super) fn group_ids_of(&self, a: &AggregateExpr, series: &[&Arc<Labels>]) -> Vec<u32> {
        let grouping = a.grouping.as_ref();
        self.series_keys.ids(site_of(a), series, |labels, sig| {
            push_group_signature(sig, labels, grouping)
        })
    }

    /// The output element of one group of a streaming operator, reporting
    /// what Prometheus reports about histogram members.
    fn finish_group(&self, op: AggOp, g: Group, a: &AggregateExpr) -> Option<Elem> {
        if g.ignored_histogram {
            self.info(notes::ignored_in_aggregation(op_name(op)), a.expr_pos);
            if g.float.count == 0.0 {
                return None;
            }
        }
        if g.hist_count > 0.0 {
            if g.float.count > 0.0 {
                self.warn(notes::mixed_floats_histograms_aggregation(), a.expr_pos);
                return None;
            }
            let acc = if op == AggOp::Avg {
                let members: Vec<&tidemark_model::FloatHistogram> =
                    g.hist_members.iter().map(|h| &**h).collect();
                native_histogram::mean(&members)
            } else {
                g.hists
            };
            self.report_sum(&acc, g.hist_metric.as_deref().unwrap_or(""), a.expr_pos);
            let h = acc.result()?;
            return Some(Elem {
                f: 0.0,
                h: Some(Arc::new(h)),
                labels: Arc::new(g.labels),
                drop_name: g.drop_name,
            });
        }
        Some(Elem {
            f: finish(op, &g),
            labels: Arc::new(g.labels),
            h: None,
            drop_name: g.drop_name,
        })
    }
}

/// The operator's name as Prometheus words it in annotations.
fn op_name(op: AggOp) -> &'static str {
    match op {
        AggOp::Sum => "sum",
        AggOp::Avg => "avg",
        AggOp::Count => "count",
        AggOp::Min => "min",
        AggOp::Max => "max",
        AggOp::Group => "group",
        AggOp::Stddev => "stddev",
        AggOp::Stdvar => "stdvar",
        AggOp::TopK => "topk",
        AggOp::BottomK => "bottomk",
        AggOp::Quantile => "quantile",
        _ => "",
    }
}

fn scalar_param(p: Option<StepValue<'_>>, op: AggOp) -> Result<f64, QueryError> {
    match p {
        Some(StepValue::Scalar(v)) => Ok(v),
        _ => Err(QueryError::BadData(format!(
            "{op:?}: expected scalar parameter"
        ))),
    }
}

/// `topk`/`bottomk`/`limitk` parameter: truncated toward zero like Go's `int64(f)`.
fn k_param(k: f64) -> Result<usize, QueryError> {
    if k.is_nan() {
        return Err(QueryError::Execution("Parameter value is NaN".into()));
    }
    if k >= 9.223_372_036_854_776e18 || k <= -9.223_372_036_854_776e18 {
        return Err(QueryError::Execution(format!(
            "Scalar value {} overflows int64",
            percent_g(k)
        )));
    }
    Ok(if k < 1.0 { 0 } else { k as usize })
}

/// The group key of `labels` under `grouping`.
pub(super) fn group_signature(labels: &Labels, grouping: Option<&Grouping>) -> Signature {
    let mut sig = Vec::new();
    push_group_signature(&mut sig, labels, grouping);
    sig
}

fn push_group_signature(sig: &mut Signature, labels: &Labels, grouping: Option<&Grouping>) {
    match grouping {
        Some(Grouping {
            without: false,
            labels: by,
        }) => push_signature_on(sig, labels, by),
        Some(Grouping {
            without: true,
            labels: without,
        }) => push_signature_without(sig, labels, without),
        None => {}
    }
}

/// Maps elements to their output group by group id, creating groups in
/// first-seen order.
struct GroupIndex<'g> {
    grouping: Option<&'g Grouping>,
    /// Position in `groups` per group id (ids are dense per aggregation).
    slots: Vec<usize>,
    groups: Vec<Group>,
}

const NO_SLOT: usize = usize::MAX;

impl<'g> GroupIndex<'g> {
    fn new(grouping: Option<&'g Grouping>, ids: &[u32]) -> Self {
        let max_id = ids.iter().copied().max().map_or(0, |m| m as usize + 1);
        GroupIndex {
            grouping,
            slots: vec![NO_SLOT; max_id],
            groups: Vec::new(),
        }
    }

    fn group_of(&mut self, id: u32, labels: &Labels) -> &mut Group {
        let slot = &mut self.slots[id as usize];
        if *slot == NO_SLOT {
            *slot = self.groups.len();
            self.groups
                .push(new_group(group_labels(labels, self.grouping)));
        }
        &mut self.groups[*slot]
    }
}

/// The output labels of the group `labels` falls into. Built only when a group is
/// first seen: doing it for every element dominated aggregation cost.
pub(super) fn group_labels(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    match grouping {
        Some(Grouping {
            without: false,
            labels: by,
        }) => keep_labels(labels, by),
        Some(Grouping {
            without: true,
            labels: without,
        }) => drop_labels_and_name(labels, without),
        None => Labels::empty(),
    }
}

pub(super) fn new_group(labels: Labels) -> Group {
    Group {
        labels,
        drop_name: false,
        float: FloatFold::default(),
        members: Vec::new(),
        hists: HistogramSum::default(),
        hist_count: 0.0,
        hist_members: Vec::new(),
        ignored_histogram: false,
        hist_metric: None,
    }
}

/// Splits `input` into groups in first-seen order, keeping the members.
fn group(
    input: Vec<Elem>,
    ids: &[u32],
    grouping: Option<&Grouping>,
    keep_members: bool,
) -> Vec<Group> {
    let mut index = GroupIndex::new(grouping, ids);
    for (e, &id) in input.into_iter().zip(ids) {
        let g = index.group_of(id, &e.labels);
        g.drop_name |= e.drop_name;
        if keep_members {
            g.members.push(e);
        }
    }
    index.groups
}

/// Folds the streaming operators group by group.
fn group_fold(input: Vec<Elem>, ids: &[u32], grouping: Option<&Grouping>, op: AggOp) -> Vec<Group> {
    let mut index = GroupIndex::new(grouping, ids);
    for (e, &id) in input.into_iter().zip(ids) {
        let g = index.group_of(id, &e.labels);
        g.drop_name |= e.drop_name;
        if let Some(h) = &e.h {
            match op {
                AggOp::Count | AggOp::Group => g.float.count += 1.0,
                AggOp::Sum | AggOp::Avg => {
                    if op == AggOp::Avg {
                        g.hist_members.push(h.clone());
                    } else {
                        g.hists.add(h);
                    }
                    g.hist_count += 1.0;
                    if g.hist_metric.is_none() {
                        g.hist_metric = Some(e.labels.metric_name().unwrap_or("").to_string());
                    }
                }
                _ => g.ignored_histogram = true,
            }
            continue;
        }
        fold_float(g, op, e.f);
    }
    index.groups
}

/// Adds float member `f` to group `g` of streaming operator `op`.
pub(super) fn fold_float(g: &mut Group, op: AggOp, f: f64) {
    g.float.add(op, f);
}

/// The value of group `g` of streaming operator `op`.
pub(super) fn finish(op: AggOp, g: &Group) -> f64 {
    g.float.result(op)
}

impl FloatFold {
    /// Adds float member `f` under streaming operator `op`.
    pub(super) fn add(&mut self, op: AggOp, f: f64) {
        let first = self.count == 0.0;
        self.count += 1.0;
        match op {
            AggOp::Sum | AggOp::Avg if first => self.value = f,
            AggOp::Sum => (self.value, self.kahan_c) = kahan_inc(f, self.value, self.kahan_c),
            AggOp::Avg => self.avg_add(f),
            // NaN is replaced by any value, so it only survives if all are NaN.
            AggOp::Min if first || self.value > f || self.value.is_nan() => self.value = f,
            AggOp::Max if first || self.value < f || self.value.is_nan() => self.value = f,
            AggOp::Stddev | AggOp::Stdvar => {
                // Welford's online variance.
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            AggOp::Count | AggOp::Group => {}
            _ => {}
        }
    }

    /// Prometheus' `avg`: a compensated sum divided at the end, switching to an
    /// incremental mean once the sum would overflow.
    fn avg_add(&mut self, f: f64) {
        if !self.incremental_mean {
            let (v, c) = kahan_inc(f, self.value, self.kahan_c);
            if !v.is_infinite() {
                self.value = v;
                self.kahan_c = c;
                return;
            }
            self.incremental_mean = true;
            let n = self.count - 1.0;
            self.mean = self.value / n;
            self.kahan_c /= n;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.kahan_c) = kahan_inc(f / self.count, q * self.mean, q * self.kahan_c);
    }

    /// The operator's value over the members added so far.
    pub(super) fn result(&self, op: AggOp) -> f64 {
        match op {
            AggOp::Sum => {
                if self.value.is_infinite() {
                    self.value
                } else {
                    self.value + self.kahan_c
                }
            }
            AggOp::Avg => {
                if self.incremental_mean {
                    self.mean + self.kahan_c
                } else if self.value.is_infinite() {
                    self.value
                } else {
                    (self.value + self.kahan_c) / self.count
                }
            }
            AggOp::Count => self.count,
            AggOp::Group => 1.0,
            AggOp::Min | AggOp::Max => self.value,
            AggOp::Stdvar => self.value / self.count,
            AggOp::Stddev => (self.value / self.count).sqrt(),
            _ => f64::NAN,
        }
    }
}

fn count_values(input: Vec<Elem>, label: &str, grouping: Option<&Grouping>) -> Vec<Elem> {
    let mut index: HashMap<(Signature, String), usize> = HashMap::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Elem> = Vec::new();
    for e in input {
        let value = match &e.h {
            Some(h) => native_histogram::buckets::describe(h),
            None => format_count_value(e.f),
        };
        let key = (group_signature(&e.labels, grouping), value.clone());
        match index.get(&key) {
            Some(&i) => out[i].f += 1.0,
            None => {
                let mut b = group_labels(&e.labels, grouping).builder();
                b.set(label, &value);
                let labels = b.build();
                // When the value label overwrites a grouping label, different
                // groups can end up with the same output labels: one count.
                if let Some(&i) = by_labels.get(&labels) {
                    out[i].f += 1.0;
                    index.insert(key, i);
                    continue;
                }
                by_labels.insert(labels.clone(), out.len());
                index.insert(key, out.len());
                out.push(Elem {
                    h: None,
                    labels: Arc::new(labels),
                    f: 1.0,
                    drop_name: false,
                });
            }
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip, no exponent.
fn format_count_value(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

/// `topk`/`bottomk` order their groups' members by value (NaN always last);
/// `limitk` keeps the first `k` members in input order.
fn k_select(
    op: AggOp,
    input: Vec<Elem>,
    ids: &[u32],
    k: usize,
    grouping: Option<&Grouping>,
) -> Vec<Elem> {
    if k == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for g in group(input, ids, grouping, true) {
        let mut members = g.members;
        match op {
            AggOp::TopK => members.sort_by(|a, b| cmp_nan_last(a.f, b.f, true)),
            AggOp::BottomK => members.sort_by(|a, b| cmp_nan_last(a.f, b.f, false)),
            _ => {}
        }
        members.truncate(k);
        out.extend(members);
    }
    out
}

/// Orders values descending (`desc`) or ascending; NaN sorts after every number.
fn cmp_nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `limit_ratio`: a deterministic per-series sample based on the label hash, so the
/// same series are kept across steps; a negative ratio keeps the complement.
fn limit_ratio_keeps(labels: &Labels, ratio: f64) -> bool {
    let h = labels.stable_hash() as f64 / u64::MAX as f64;
    if ratio >= 0.0 {
        h < ratio
    } else {
        h >= 1.0 + ratio
    }
}
