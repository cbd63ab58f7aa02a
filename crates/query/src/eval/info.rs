//! `info(v, selector)` (Prometheus 3.x): enriches each series with the data labels
//! of the info series (`target_info` by default) that share its identifying labels.

use std::collections::HashMap;
use std::sync::Arc;

use tidemark_model::{Labels, LabelsBuilder, Matcher, METRIC_NAME};

use super::{Elem, Evaluator, StepValue};
use crate::ast::{Call, Expr};
use crate::value::QueryError;

/// The latest sample time and labels of each info metric, by metric name.
type InfoByName = HashMap<String, (i64, Arc<Labels>)>;

/// Labels that tie a series to its info series.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

impl Evaluator<'_> {
    pub(crate) fn info_fn<'e>(&'e self, c: &Call, t: i64) -> Result<StepValue<'e>, QueryError> {
        let base = self.eval_vector(&c.args[0], t)?;
        let Some(Expr::VectorSelector(sel)) = c.args.get(1).map(Expr::unparen) else {
            return Err(QueryError::BadData(
                "info(): expected a label selector as second argument".into(),
            ));
        };
        // Base series matching every name matcher are info series themselves and
        // pass through unchanged.
        let name_matchers: Vec<&Matcher> = sel
            .matchers
            .iter()
            .filter(|m| m.name == METRIC_NAME)
            .collect();
        let data_matchers: Vec<&Matcher> = sel
            .matchers
            .iter()
            .filter(|m| m.name != METRIC_NAME)
            .collect();

        // Latest info series per identifying-label key and metric name.
        let mut infos: HashMap<Vec<String>, InfoByName> = HashMap::new();
        let ref_t = self.reference_time(&c.args[0], t)?;
        for (e, ts) in self.vector_selector_with_time(sel, ref_t)? {
            if e.h.is_some() {
                // Info metrics carry their information in labels; a histogram is not one.
                return Err(QueryError::Execution(format!(
                    "this should be an info metric, with float samples: {}",
                    e.labels
                )));
            }
            let Some(name) = e.labels.metric_name() else {
                continue;
            };
            let key = identifying_key(&e.labels);
            let by_name = infos.entry(key).or_default();
            let newer = by_name.get(name).is_none_or(|(prev, _)| ts > *prev);
            if newer {
                by_name.insert(name.to_string(), (ts, e.labels.clone()));
            }
        }

        let empty_ok = data_matchers.iter().all(|m| m.matches_empty());
        let mut out = Vec::with_capacity(base.len());
        for e in base {
            let name = e.labels.metric_name().unwrap_or("");
            let is_info_series = !name.is_empty() && name_matchers.iter().all(|m| m.matches(name));
            if is_info_series {
                out.push(e);
                continue;
            }
            let matched = infos
                .get(&identifying_key(&e.labels))
                .filter(|m| !m.is_empty());
            let Some(matched) = matched else {
                if empty_ok {
                    out.push(e);
                }
                continue;
            };
            let mut b: LabelsBuilder = e.labels.builder();
            let mut names: Vec<&String> = matched.keys().collect();
            names.sort();
            // (label, info metric it came from), to detect conflicts.
            let mut added: Vec<(String, String)> = Vec::new();
            for n in names {
                let (_, info_labels) = &matched[n];
                for l in info_labels.iter() {
                    if l.name == METRIC_NAME
                        || IDENTIFYING.contains(&l.name.as_str())
                        || e.labels.get(&l.name).is_some()
                    {
                        continue;
                    }
                    if !data_matchers.is_empty() && !data_matchers.iter().any(|m| m.name == l.name)
                    {
                        continue;
                    }
                    if let Some((prev, from)) = added.iter().find(|(name, _)| *name == l.name) {
                        if matched[from].1.get(prev).is_some_and(|v| v != l.value) {
                            return Err(QueryError::Execution(format!(
                                "conflicting label: {:?} has different values in info metrics {from:?} and {n:?}",
                                l.name
                            )));
                        }
                    }
                    added.push((l.name.clone(), n.clone()));
                    b.set(&l.name, &l.value);
                }
            }
            out.push(Elem {
                h: e.h.clone(),
                labels: Arc::new(b.build()),
                f: e.f,
                drop_name: e.drop_name,
            });
        }
        Ok(StepValue::Vector(out))
    }
}

impl Evaluator<'_> {
    /// The time the samples of `e` evaluated at `t` refer to: `@` and `offset` of
    /// the selector or subquery it reads (through functions and parentheses), so
    /// that info series are matched as of the same time.
    pub(crate) fn reference_time(&self, e: &Expr, t: i64) -> Result<i64, QueryError> {
        match e {
            Expr::Paren(x) => self.reference_time(x, t),
            Expr::VectorSelector(vs) => self.selector_time(vs, t),
            Expr::MatrixSelector(ms) => self.selector_time(&ms.vs, t),
            Expr::Subquery(sq) => {
                let base = sq.at.as_ref().map_or(t, |a| self.at_time(a));
                let off = match &sq.offset {
                    Some(o) => self.duration_ms(o)?,
                    None => 0,
                };
                self.reference_time(&sq.expr, base - off)
            }
            Expr::Call(c) => match c
                .args
                .iter()
                .find(|a| !matches!(a.unparen(), Expr::Number(_) | Expr::String(_)))
            {
                Some(a) => self.reference_time(a, t),
                None => Ok(t),
            },
            _ => Ok(t),
        }
    }
}

fn identifying_key(labels: &Labels) -> Vec<String> {
    IDENTIFYING
        .iter()
        .map(|n| labels.get(n).unwrap_or("").to_string())
        .collect()
}
