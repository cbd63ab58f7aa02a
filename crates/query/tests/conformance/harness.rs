//! Executes a parsed script against an engine and judges every `eval` statement the way
//! the upstream harness does (FORMAT.md §5.3–§5.6).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tidemark_query::{InstantSample, QueryError, QueryResult, Queryable, Value};

use super::at_rewrite::{pin_selectors, AtRewrite};
use super::compare::{check_matrix_sorted, compare_result, compare_scalar, compare_vector};
use super::memory::MemoryStore;
use super::script::{AnnotationExpect, Command, EvalCmd, EvalMode, Expected};

/// The engine under test.
pub trait QueryEngine: Sync {
    fn instant(
        &self,
        store: &dyn Queryable,
        expr: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError>;
    fn range(
        &self,
        store: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    Failed(String),
    /// Not judged (kept for runners that cannot evaluate a statement).
    #[allow(dead_code)]
    Skipped(String),
    /// Listed in exclusions.tsv.
    Excluded(String),
}

#[derive(Debug, Clone)]
pub struct StatementReport {
    pub line: usize,
    pub expr: String,
    pub verdict: Verdict,
    /// For statements with warn/info/no_warn/no_info expectations: whether those held.
    pub annotations_ok: Option<bool>,
}

/// Runs all commands of one file; `exclusions` maps eval header lines to reasons.
pub fn run_commands(
    commands: &[Command],
    engine: &dyn QueryEngine,
    exclusions: &HashMap<usize, String>,
) -> Vec<StatementReport> {
    let mut store = MemoryStore::default();
    let mut reports = Vec::new();
    for cmd in commands {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load(load) => store.load(load),
            Command::Eval(eval) => {
                let report = match exclusions.get(&eval.line) {
                    Some(reason) => StatementReport {
                        line: eval.line,
                        expr: eval.expr.clone(),
                        verdict: Verdict::Excluded(reason.clone()),
                        annotations_ok: None,
                    },
                    None => judge(eval, &store, engine),
                };
                reports.push(report);
            }
        }
    }
    reports
}

fn judge(cmd: &EvalCmd, store: &MemoryStore, engine: &dyn QueryEngine) -> StatementReport {
    let mut run = StatementRun {
        cmd,
        store,
        engine,
        annotations_ok: true,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| run.execute())).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(format!("engine panicked: {msg}"))
    });
    let annotations_checked = cmd.warn.is_checked() || cmd.info.is_checked();
    let verdict = match outcome {
        Ok(()) => Verdict::Passed,
        Err(e) => Verdict::Failed(e),
    };
    let judged = matches!(verdict, Verdict::Passed | Verdict::Failed(_));
    StatementReport {
        line: cmd.line,
        expr: cmd.expr.clone(),
        verdict,
        annotations_ok: (annotations_checked && judged).then_some(run.annotations_ok),
    }
}

struct StatementRun<'a> {
    cmd: &'a EvalCmd,
    store: &'a MemoryStore,
    engine: &'a dyn QueryEngine,
    annotations_ok: bool,
}

/// Evaluation times of the step-invariance check for an instant eval at `t`.
fn pinned_eval_times(t: i64) -> Vec<i64> {
    if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    }
}

impl StatementRun<'_> {
    fn execute(&mut self) -> Result<(), String> {
        match self.cmd.mode {
            EvalMode::Range {
                start_ms,
                end_ms,
                step_ms,
            } => {
                let res = self
                    .engine
                    .range(self.store, &self.cmd.expr, start_ms, end_ms, step_ms);
                if let Some(res) = self.check_error(res, &self.cmd.expr)? {
                    self.check_annotations(&res)?;
                    compare_result(self.cmd, &res.value)?;
                }
                Ok(())
            }
            EvalMode::Instant { .. } => {
                let t = self.cmd.instant_time().expect("instant eval has a time");
                let mut queries = vec![(self.cmd.expr.clone(), t)];
                match pin_selectors(&self.cmd.expr, t) {
                    Ok(AtRewrite::Rewritten(pinned)) => {
                        queries.extend(
                            pinned_eval_times(t)
                                .into_iter()
                                .map(|et| (pinned.clone(), et)),
                        );
                    }
                    Ok(AtRewrite::Skip) => {}
                    Err(e) => return Err(format!("runner could not add @ modifiers: {e}")),
                }
                for (expr, et) in queries {
                    self.run_instant(&expr, et)
                        .map_err(|e| format!("{e} [query {expr:?} at {et}ms]"))?;
                }
                Ok(())
            }
        }
    }

    /// Applies `expect fail`: returns the result to check further, `None` when an expected
    /// error occurred, or the failure.
    fn check_error(
        &self,
        res: Result<QueryResult, QueryError>,
        expr: &str,
    ) -> Result<Option<QueryResult>, String> {
        match (res, &self.cmd.fail) {
            (Ok(_), Some(_)) => Err(format!(
                "expected an error evaluating {expr:?} but got none"
            )),
            (Ok(r), None) => Ok(Some(r)),
            (Err(e), Some(m)) if m.matches(&e.to_string()) => Ok(None),
            (Err(e), Some(m)) => Err(format!("expected error matching {m:?} but got: {e}")),
            (Err(e), None) => Err(format!("unexpected error: {e}")),
        }
    }

    fn run_instant(&mut self, expr: &str, t: i64) -> Result<(), String> {
        let res = self.engine.instant(self.store, expr, t);
        let Some(res) = self.check_error(res, expr)? else {
            return Ok(());
        };
        self.check_annotations(&res)?;
        compare_result(self.cmd, &res.value)?;
        if self.excluded_from_range_mode(expr) {
            return Ok(());
        }
        let range = self
            .engine
            .range(self.store, expr, t - 60_000, t + 60_000, 60_000)
            .map_err(|e| format!("range mode: unexpected error: {e}"))?;
        if self.cmd.ordered {
            return Ok(());
        }
        let Value::Matrix(matrix) = &range.value else {
            return Err("range mode: result is not a matrix".to_string());
        };
        check_matrix_sorted(matrix).map_err(|e| format!("range mode: {e}"))?;
        let mut at_t = Vec::new();
        for s in matrix {
            if let Some(p) = s.floats.iter().find(|p| p.t == t) {
                at_t.push(InstantSample {
                    labels: s.labels.clone(),
                    t,
                    f: p.f,
                    h: None,
                });
            }
            if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
                at_t.push(InstantSample {
                    labels: s.labels.clone(),
                    t,
                    f: 0.0,
                    h: Some(p.h.clone()),
                });
            }
        }
        let verdict = if let Value::Scalar { .. } = res.value {
            match at_t.first() {
                Some(s) => compare_scalar(self.cmd, s.f),
                None => Err("no point at the evaluation time".to_string()),
            }
        } else {
            compare_vector(self.cmd, &at_t)
        };
        verdict.map_err(|e| format!("range mode: {e}"))
    }

    fn excluded_from_range_mode(&self, expr: &str) -> bool {
        self.cmd.range_vector.is_some()
            || matches!(self.cmd.expected, Expected::String(_))
            || ["start()", "end()", "range()", "step()"]
                .iter()
                .any(|f| self.cmd.expr.contains(f) || expr.contains(f))
    }

    fn check_annotations(&mut self, res: &QueryResult) -> Result<(), String> {
        let checks = [
            ("warn", &self.cmd.warn, &res.warnings),
            ("info", &self.cmd.info, &res.infos),
        ];
        for (kind, expect, actual) in checks {
            if let Err(e) = check_annotation_kind(kind, expect, actual) {
                self.annotations_ok = false;
                return Err(e);
            }
        }
        Ok(())
    }
}

fn check_annotation_kind(
    kind: &str,
    expect: &AnnotationExpect,
    actual: &[String],
) -> Result<(), String> {
    if (expect.at_least_one || !expect.lines.is_empty()) && actual.is_empty() {
        return Err(format!("expected {kind} annotations but got none"));
    }
    if let Some(line) = expect
        .lines
        .iter()
        .find(|l| !actual.iter().any(|a| l.matches(a)))
    {
        return Err(format!(
            "no {kind} annotation matches {line:?}; got {actual:?}"
        ));
    }
    if !expect.lines.is_empty() {
        if let Some(a) = actual
            .iter()
            .find(|a| !expect.lines.iter().any(|l| l.matches(a)))
        {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    if expect.none && !actual.is_empty() {
        return Err(format!("expected no {kind} annotations, got {actual:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{parse_script, MessageMatch};
    use std::sync::Mutex;
    use tidemark_model::Labels;

    /// `(expr, eval time, is range query)` → answer.
    type Answer = dyn Fn(&str, i64, bool) -> Result<QueryResult, QueryError> + Sync;

    /// A fake engine answering from a closure, to test the judging logic in isolation.
    struct FakeEngine {
        answer: Box<Answer>,
        calls: Mutex<Vec<(String, i64, bool)>>,
    }

    impl QueryEngine for FakeEngine {
        fn instant(
            &self,
            _: &dyn Queryable,
            expr: &str,
            t: i64,
        ) -> Result<QueryResult, QueryError> {
            self.calls
                .lock()
                .unwrap()
                .push((expr.to_string(), t, false));
            (self.answer)(expr, t, false)
        }
        fn range(
            &self,
            _: &dyn Queryable,
            expr: &str,
            start: i64,
            _: i64,
            _: i64,
        ) -> Result<QueryResult, QueryError> {
            self.calls
                .lock()
                .unwrap()
                .push((expr.to_string(), start + 60_000, true));
            (self.answer)(expr, start + 60_000, true)
        }
    }

    fn result(value: Value) -> Result<QueryResult, QueryError> {
        Ok(QueryResult {
            value,
            warnings: vec![],
            infos: vec![],
        })
    }

    fn one_sample(t: i64, v: f64, range: bool) -> Value {
        let labels = Labels::from_pairs([("job", "a")]);
        if range {
            Value::Matrix(vec![tidemark_query::RangeSeries {
                labels,
                floats: vec![tidemark_query::FPoint { t, f: v }],
                histograms: vec![],
            }])
        } else {
            Value::Vector(vec![InstantSample {
                labels,
                t,
                f: v,
                h: None,
            }])
        }
    }

    fn run(script: &str, engine: &FakeEngine) -> Vec<StatementReport> {
        run_commands(&parse_script(script).unwrap(), engine, &HashMap::new())
    }

    #[test]
    fn instant_eval_runs_original_pinned_and_range_mode_queries() {
        let engine = FakeEngine {
            answer: Box::new(|_, t, range| result(one_sample(t, 1.0, range))),
            calls: Mutex::new(vec![]),
        };
        let reports = run("eval instant at 1m sum(x)\n  {job=\"a\"} 1\n", &engine);
        assert_eq!(reports[0].verdict, Verdict::Passed);
        let calls = engine.calls.lock().unwrap();
        assert_eq!(
            calls.len(),
            12,
            "original + 5 pinned, each instant and range"
        );
        assert_eq!(calls[2], ("sum(x @ 60.000)".to_string(), -600_000, false));
    }

    #[test]
    fn wrong_value_in_range_mode_fails() {
        let engine = FakeEngine {
            answer: Box::new(|_, t, range| {
                result(one_sample(t, if range { 2.0 } else { 1.0 }, range))
            }),
            calls: Mutex::new(vec![]),
        };
        let reports = run("eval instant at 1m x\n  {job=\"a\"} 1\n", &engine);
        assert!(matches!(&reports[0].verdict, Verdict::Failed(m) if m.contains("range mode")));
    }

    #[test]
    fn expected_failures_and_annotations() {
        let engine = FakeEngine {
            answer: Box::new(|expr, _, range| {
                if expr.starts_with("bad") {
                    return Err(QueryError::Execution("boom".into()));
                }
                let value = if range {
                    Value::Matrix(vec![])
                } else {
                    Value::Vector(vec![])
                };
                Ok(QueryResult {
                    value,
                    warnings: vec!["PromQL warning: w (1:1)".into()],
                    infos: vec![],
                })
            }),
            calls: Mutex::new(vec![]),
        };
        let reports = run(
            "eval instant at 0 bad\n  expect fail msg: boom\n\neval instant at 0 bad\n  expect fail msg: other\n\n\
             eval instant at 0 good\n  expect warn regex: w \\(1:1\\)\n\neval instant at 0 good\n  expect no_warn\n\n\
             eval instant at 0 good\n\neval instant at 0 good\n  expect fail\n",
            &engine,
        );
        let verdicts: Vec<bool> = reports
            .iter()
            .map(|r| r.verdict == Verdict::Passed)
            .collect();
        assert_eq!(verdicts, vec![true, false, true, false, true, false]);
        assert_eq!(reports[2].annotations_ok, Some(true));
        assert_eq!(reports[3].annotations_ok, Some(false));
        assert_eq!(
            reports[4].annotations_ok, None,
            "plain evals do not check annotations"
        );
    }

    #[test]
    fn annotation_rules() {
        let exact = |s: &str| MessageMatch::Exact(s.to_string());
        let lines = AnnotationExpect {
            lines: vec![exact("a")],
            ..Default::default()
        };
        assert!(check_annotation_kind("warn", &lines, &["a".into()]).is_ok());
        assert!(
            check_annotation_kind("warn", &lines, &["a".into(), "b".into()]).is_err(),
            "every annotation must be expected"
        );
        assert!(check_annotation_kind("warn", &lines, &[]).is_err());
        let any = AnnotationExpect {
            lines: vec![MessageMatch::Any],
            ..Default::default()
        };
        assert!(check_annotation_kind("warn", &any, &["x".into(), "y".into()]).is_ok());
        let none = AnnotationExpect {
            none: true,
            ..Default::default()
        };
        assert!(check_annotation_kind("info", &none, &["x".into()]).is_err());
    }

    #[test]
    fn panics_are_reported_and_histogram_statements_judged() {
        let engine = FakeEngine {
            answer: Box::new(|_, _, _| panic!("kaput")),
            calls: Mutex::new(vec![]),
        };
        let reports = run("eval instant at 0 x\n", &engine);
        assert!(matches!(&reports[0].verdict, Verdict::Failed(m) if m.contains("kaput")));
        let reports = run(
            "load 1m\n  h {{count:1}}\n\neval instant at 0 h\n  h {{count:1}}\n",
            &engine,
        );
        assert!(
            matches!(&reports[0].verdict, Verdict::Failed(m) if m.contains("kaput")),
            "native histogram statements are evaluated like any other"
        );
    }
}
