//! PromQL conformance: runs every upstream `.test` file in `shared/conformance/promql`
//! against the engine and ratchets the float-only and native-histogram pass counts
//! (see FORMAT.md there; baselines in conformance/baseline.txt and baseline_nh.txt).
//!
//! Environment:
//! * `TIDEMARK_CONFORMANCE_VERBOSE=1`: print every failing statement with its reason.
//! * `TIDEMARK_CONFORMANCE_FILE=name.test`: run one file (the ratchet is then not applied).
//! * `TIDEMARK_CONFORMANCE_DIR=path`: use another directory of `.test` files.

#[path = "conformance/at_rewrite.rs"]
mod at_rewrite;
#[path = "conformance/compare.rs"]
mod compare;
#[path = "conformance/harness.rs"]
mod harness;
#[path = "conformance/histogram.rs"]
mod histogram;
#[path = "conformance/memory.rs"]
mod memory;
#[path = "conformance/report.rs"]
mod report;
#[path = "conformance/script.rs"]
mod script;
#[path = "conformance/series.rs"]
mod series;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tidemark_query::{Engine, EngineOptions, QueryError, QueryResult, Queryable};

use harness::{run_commands, QueryEngine, Verdict};
use report::{
    failures_by_file, file_line, parse_baseline, parse_exclusions, summarize, FileOutcome, Index,
};

/// The real engine with the settings the expected values assume (FORMAT.md §5.8).
struct TidemarkEngine(Engine);

impl TidemarkEngine {
    fn new() -> TidemarkEngine {
        TidemarkEngine(Engine::new(EngineOptions {
            lookback_delta_ms: 5 * 60_000,
            max_samples: 10_000,
            timeout: Duration::from_secs(100),
            default_subquery_step_ms: 60_000,
            ..EngineOptions::default()
        }))
    }
}

impl QueryEngine for TidemarkEngine {
    fn instant(
        &self,
        store: &dyn Queryable,
        expr: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.0.instant_query(store, expr, t_ms)
    }

    fn range(
        &self,
        store: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.0.range_query(store, expr, start_ms, end_ms, step_ms)
    }
}

fn manifest_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn run_file(
    dir: &Path,
    file: &str,
    engine: &TidemarkEngine,
    exclusions: &HashMap<usize, String>,
) -> FileOutcome {
    let text = read(&dir.join(file));
    match script::parse_script(&text) {
        Ok(commands) => FileOutcome {
            file: file.to_string(),
            parse_error: None,
            statements: run_commands(&commands, engine, exclusions),
        },
        Err(e) => FileOutcome {
            file: file.to_string(),
            parse_error: Some(e.to_string()),
            statements: Vec::new(),
        },
    }
}

fn conformance_dir() -> PathBuf {
    std::env::var_os("TIDEMARK_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_path("../../../shared/conformance/promql"))
}

/// The `.test` files of `dir`, sorted, optionally only `only`.
fn test_files(dir: &Path, only: Option<&str>) -> Vec<String> {
    assert!(
        dir.is_dir(),
        "conformance files not found at {} (shared/ must sit beside the repository)",
        dir.display()
    );
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("read conformance dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test"))
        .filter(|n| only.is_none_or(|o| o == n))
        .collect();
    files.sort();
    files
}

/// The runner itself must understand the whole suite: every file parses, every
/// statement is indexed, and every expression can be pinned for the step-invariance check.
#[test]
fn runner_understands_every_statement() {
    let dir = conformance_dir();
    let index = Index::parse(&read(&dir.join("INDEX.tsv"))).expect("INDEX.tsv");
    let mut statements = 0;
    let mut problems = Vec::new();
    for file in test_files(&dir, None) {
        let commands =
            script::parse_script(&read(&dir.join(&file))).unwrap_or_else(|e| panic!("{file}: {e}"));
        for cmd in commands {
            let script::Command::Eval(eval) = cmd else {
                continue;
            };
            statements += 1;
            if !index.needs_nh.contains_key(&(file.clone(), eval.line)) {
                problems.push(format!("{file}:{} is not in INDEX.tsv", eval.line));
            }
            if let Err(e) = at_rewrite::pin_selectors(&eval.expr, 60_000) {
                problems.push(format!("{file}:{}: {e}", eval.line));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        statements,
        index.needs_nh.len(),
        "INDEX.tsv and the .test files disagree on the statement count"
    );
}

#[test]
fn promql_conformance() {
    let dir = conformance_dir();
    let only_file = std::env::var("TIDEMARK_CONFORMANCE_FILE")
        .ok()
        .filter(|f| !f.is_empty());
    let verbose =
        std::env::var("TIDEMARK_CONFORMANCE_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");

    let index = Index::parse(&read(&dir.join("INDEX.tsv"))).expect("INDEX.tsv");
    let exclusions = parse_exclusions(&read(&manifest_path("conformance/exclusions.tsv")))
        .expect("exclusions.tsv");
    let baseline =
        parse_baseline(&read(&manifest_path("conformance/baseline.txt"))).expect("baseline.txt");
    let nh_baseline = parse_baseline(&read(&manifest_path("conformance/baseline_nh.txt")))
        .expect("baseline_nh.txt");

    let files = test_files(&dir, only_file.as_deref());
    assert!(
        !files.is_empty(),
        "no .test files selected in {}",
        dir.display()
    );
    for f in exclusions.keys() {
        assert!(
            dir.join(f).is_file(),
            "exclusions.tsv names unknown file {f}"
        );
    }

    let engine = TidemarkEngine::new();
    let no_exclusions = HashMap::new();
    let started = Instant::now();
    let outcomes: Vec<FileOutcome> = files
        .par_iter()
        .map(|f| {
            run_file(
                &dir,
                f,
                &engine,
                exclusions.get(f).unwrap_or(&no_exclusions),
            )
        })
        .collect();
    let elapsed = started.elapsed();

    // Written to the real stdout, past the test harness' capture, so CI logs show it.
    let mut out = std::io::stdout().lock();
    if verbose {
        for (file, failures) in failures_by_file(&outcomes) {
            for s in failures {
                if let Verdict::Failed(why) = &s.verdict {
                    writeln!(out, "FAIL {file}:{} {}\n     {why}", s.line, s.expr).unwrap();
                }
            }
        }
    }
    for o in &outcomes {
        for s in &o.statements {
            if let Verdict::Excluded(reason) = &s.verdict {
                writeln!(out, "excluded {}:{} {} ({reason})", o.file, s.line, s.expr).unwrap();
            }
        }
    }
    let summary = summarize(&outcomes, &index, only_file.as_deref());
    for u in &summary.unindexed {
        writeln!(out, "warning: statement {u} is not in INDEX.tsv").unwrap();
    }
    writeln!(
        out,
        "annotation conformance: {}/{} statements with warn/info expectations matched them ({:.1}s)",
        summary.annotations_matched,
        summary.annotations_checked,
        elapsed.as_secs_f64()
    )
    .unwrap();
    for o in &outcomes {
        writeln!(out, "{}", file_line(o, &index)).unwrap();
    }
    if only_file.is_none() && summary.float_passed > baseline {
        writeln!(
            out,
            "hint: float-only passes rose to {} (baseline {baseline}); raise crates/query/conformance/baseline.txt to lock it in",
            summary.float_passed
        )
        .unwrap();
    }
    if only_file.is_none() && summary.nh_passed > nh_baseline {
        writeln!(
            out,
            "hint: native-histogram passes rose to {} (baseline {nh_baseline}); raise crates/query/conformance/baseline_nh.txt to lock it in",
            summary.nh_passed
        )
        .unwrap();
    }
    writeln!(out, "{}", summary.line()).unwrap();
    drop(out);

    assert!(
        summary.unindexed.is_empty(),
        "INDEX.tsv does not match the .test files"
    );
    if only_file.is_some() {
        return;
    }
    assert!(
        summary.float_passed >= baseline,
        "float-only conformance dropped below the baseline: {} < {baseline} (crates/query/conformance/baseline.txt); \
         rerun with TIDEMARK_CONFORMANCE_VERBOSE=1 to see the failing statements",
        summary.float_passed
    );
    assert!(
        summary.nh_passed >= nh_baseline,
        "native-histogram conformance dropped below the baseline: {} < {nh_baseline} (crates/query/conformance/baseline_nh.txt); \
         rerun with TIDEMARK_CONFORMANCE_VERBOSE=1 to see the failing statements",
        summary.nh_passed
    );
}
