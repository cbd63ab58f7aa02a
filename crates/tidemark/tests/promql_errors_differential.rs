//! Parse errors against Debian's Prometheus (2.42): broken queries are sent to both
//! (`POST /api/v1/query`) and must get the same status, `errorType` and error text
//! (including Prometheus' `invalid parameter "query": ` prefix), so the position and
//! wording users see match what they know from Prometheus.
//!
//! Also checks string literals that are not valid UTF-8 (`"\xff"`): Prometheus
//! accepts them as matcher values (`=` matches nothing, `!=` everything) and as
//! plain strings, and refuses them as regexes; both systems get the same series.
//!
//! Without `prometheus` on PATH the test skips with a message, except under `CI`.

mod common;

use common::{client, now_ms, remote_write_to, series, start_prometheus, Tidemark};
use serde_json::Value as Json;

/// Broken queries whose answer must be identical, each a common mistake.
const BROKEN: &[&str] = &[
    // Unbalanced brackets and missing pieces.
    "sum(rate(x[5m])",
    "rate(x[5m]))",
    "x[5m",
    "x[5m:1m",
    "x{a=\"b\"",
    "x @ start(",
    "",
    "1 +",
    "sum(\n  m\n) +",
    // Misplaced tokens.
    "1 + * 2",
    "x == == y",
    "x ^^ y",
    "x y",
    "x{a b}",
    "x{a=\"b\" c=\"d\"}",
    "x{a=}",
    "x{=a}",
    "x{a=1}",
    "x{a=\"b\"} {c=\"d\"}",
    "x{a=\"b\",,}",
    "x =~ y",
    "x !x y",
    "sum(x) by",
    "sum(x) without",
    "sum by x (y)",
    "sum by (a) x",
    "sum(x) by (a) by (b)",
    "rate(x[5m]) by (a)",
    "sum by (1) (x)",
    "sum without (a b) (x)",
    "x offset",
    "x[5m] offset -",
    "x offset foo",
    "x @ foo",
    "x @",
    "x[5m] @ start",
    // Lexer errors.
    "\"unterminated",
    "x{a=\"\\q\"}",
    "x[5x]",
    "x[5mx]",
    "1a",
    // Functions.
    "foo(x)",
    "histogram_quantile(0.9)",
    "time(1)",
    "abs()",
    "abs(x, y)",
    "rate(x)",
    "scalar(x[5m])",
    "vector(\"a\")",
    "round(x, y)",
    "histogram_quantile(\"a\", x)",
    "label_replace(x, 1, \"a\", \"b\", \"c\")",
    "label_join(x, \"a\", 1)",
    "clamp(x, \"a\", 1)",
    "round(x, 1) + clamp_min(x, x)",
    "quantile_over_time(x[5m], 0.5)",
    "avg_over_time(x)",
    "absent(x, y)",
    // Aggregations.
    "sum(x[5m])",
    "topk(x, y)",
    "count_values(1, x)",
    "count_values(\"a\", x[5m])",
    "topk(3)",
    "quantile(x)",
    "sum(x, y)",
    // Operators.
    "x[5m] + 1",
    "sum(x[5m] + 1)",
    "\"a\" + 1",
    "x and 1",
    "x unless 1",
    "1 + (x and 1)",
    "1 == 1",
    "x + bool y",
    "x == bool on(a) 1",
    "x and on(a) group_left y",
    "x + on(a) group_left(a) y",
    "-\"a\"",
    "1 + -\"a\"",
    // Selectors, ranges and modifiers.
    "{}",
    "{job=\"\"}",
    "sum(1 + ({a=\"\"}))",
    "a{__name__=\"b\"}",
    "rate(x[5m])[5m]",
    "rate(x[5m] offset 1m [1m])",
    "x[0s]",
    "x[1m:0s]",
    "x offset 1m offset 2m",
    "x @ 1 @ 2",
    // Regex matchers, as Go's regexp words them.
    "x{job=~\"(\"}",
    "x{a=~\"b\", a=~\"(\"}",
    "x{a=~\"[a\"}",
    "x{a=~\"\\\\q\"}",
    "x{a=~\"*\"}",
    "x{a=~\"a)\"}",
    "x{a=~\"\\\\C\"}",
    // Invalid UTF-8 where it cannot be used.
    "x{job=~\"\\xff\"}",
    "x{job!~\"a|\\xff\"}",
    "count_values(\"\\xff\", x)",
    "label_replace(vector(1), \"dst\", \"a\", \"src\", \"\\xff\")",
];

/// Queries with invalid UTF-8 string literals that Prometheus answers.
const ACCEPTED: &[&str] = &[
    "errdiff{job=\"\\xff\"}",
    "errdiff{job!=\"\\xff\"}",
    "errdiff{job=\"a\", instance!=\"\\xfe\"}",
    "errdiff{job=\"\\xff\"} or errdiff{job!=\"\\xff\"}",
    "absent(errdiff{job=\"a\\xf0\\x9f\\x98b\"})",
    "\"\\xff\"",
    "label_replace(errdiff, \"dst\", \"\\xff\", \"\", \"\")",
    // Braces that start no repetition are literal in Go's regexp.
    "errdiff{job=~\"a{b}|a{,2}|a\"}",
];

/// Status and body of an instant query at `time` (seconds).
fn query(base_url: &str, expr: &str, time: &str) -> (u16, Json) {
    let resp = client()
        .post(format!("{base_url}/api/v1/query"))
        .form(&[("query", expr), ("time", time)])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{expr}: {e}: {text}"));
    (status, body)
}

/// What must agree for a failing query: status, `errorType` and the message.
fn error_of(status: u16, body: &Json) -> Json {
    let error = body["error"].as_str().unwrap_or_default();
    serde_json::json!({"status": status, "errorType": body["errorType"], "error": error})
}

/// A result as comparable data: series sorted by their labels.
fn sorted_data(body: &Json) -> Json {
    let mut data = body["data"].clone();
    if let Some(series) = data["result"].as_array_mut() {
        series.sort_by_key(|s| s["metric"].to_string());
    }
    data
}

#[test]
fn parse_errors_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prom) = start_prometheus(dir.path(), &[]) else {
        return;
    };
    let tm = Tidemark::start(&[]);
    let now = now_ms();
    let samples = [(now - 60_000, 1.0), (now, 2.0)];
    let written = vec![
        series(&[("__name__", "errdiff"), ("job", "a")], &samples),
        series(
            &[("__name__", "errdiff"), ("job", "b"), ("instance", "i")],
            &samples,
        ),
        series(&[("__name__", "errdiff"), ("instance", "j")], &samples),
    ];
    remote_write_to(&prom.url(""), &written);
    remote_write_to(&tm.url(""), &written);
    let time = format!("{}", now as f64 / 1000.0);

    let mut differences = Vec::new();
    for &expr in BROKEN {
        let (ps, pb) = query(&prom.url(""), expr, &time);
        let (ts, tb) = query(&tm.url(""), expr, &time);
        assert_ne!(
            ps, 200,
            "Prometheus accepts {expr:?}; the list is for errors"
        );
        let (want, got) = (error_of(ps, &pb), error_of(ts, &tb));
        if want != got {
            differences.push(format!(
                "{expr:?}\n  prometheus: {want}\n  tidemark:   {got}"
            ));
        }
    }
    for &expr in ACCEPTED {
        let (ps, pb) = query(&prom.url(""), expr, &time);
        let (ts, tb) = query(&tm.url(""), expr, &time);
        assert_eq!(ps, 200, "Prometheus refuses {expr:?}: {pb}");
        if ts != 200 || sorted_data(&pb) != sorted_data(&tb) {
            differences.push(format!(
                "{expr:?}\n  prometheus: {}\n  tidemark:   {ts} {tb}",
                sorted_data(&pb)
            ));
        }
    }
    println!(
        "{} of {} queries answered like Prometheus",
        BROKEN.len() + ACCEPTED.len() - differences.len(),
        BROKEN.len() + ACCEPTED.len()
    );
    assert!(
        differences.is_empty(),
        "{} answers differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
