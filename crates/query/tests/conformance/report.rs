//! INDEX.tsv, exclusions.tsv and the baseline, plus the per-file and summary lines.

use std::collections::{BTreeMap, HashMap};

use super::harness::{StatementReport, Verdict};

/// `needs_native_histograms` per (file, line), from INDEX.tsv.
pub struct Index {
    pub needs_nh: HashMap<(String, usize), bool>,
}

impl Index {
    pub fn parse(text: &str) -> Result<Index, String> {
        let mut needs_nh = HashMap::new();
        for (n, row) in text.lines().enumerate().skip(1) {
            if row.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = row.split('\t').collect();
            if cols.len() < 4 {
                return Err(format!(
                    "INDEX.tsv line {}: expected at least 4 columns",
                    n + 1
                ));
            }
            let line: usize = cols[1]
                .parse()
                .map_err(|_| format!("INDEX.tsv line {}: bad line number {:?}", n + 1, cols[1]))?;
            let nh = match cols[3] {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(format!(
                        "INDEX.tsv line {}: bad needs_native_histograms {other:?}",
                        n + 1
                    ))
                }
            };
            needs_nh.insert((cols[0].to_string(), line), nh);
        }
        Ok(Index { needs_nh })
    }

    /// (float-only, native-histogram) statement counts, optionally for one file.
    pub fn totals(&self, only_file: Option<&str>) -> (usize, usize) {
        let rows = self
            .needs_nh
            .iter()
            .filter(|((f, _), _)| only_file.is_none_or(|o| o == f));
        rows.fold(
            (0, 0),
            |(fl, nh), (_, &yes)| if yes { (fl, nh + 1) } else { (fl + 1, nh) },
        )
    }
}

/// exclusions.tsv: `file<TAB>line<TAB>reason`, `#` comments allowed.
pub fn parse_exclusions(text: &str) -> Result<HashMap<String, HashMap<usize, String>>, String> {
    let mut out: HashMap<String, HashMap<usize, String>> = HashMap::new();
    for (n, row) in text.lines().enumerate() {
        let row = row.trim_end();
        if row.trim().is_empty() || row.starts_with('#') {
            continue;
        }
        let mut cols = row.splitn(3, '\t');
        let (Some(file), Some(line), Some(reason)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(format!(
                "exclusions.tsv line {}: want file<TAB>line<TAB>reason",
                n + 1
            ));
        };
        let line: usize = line
            .parse()
            .map_err(|_| format!("exclusions.tsv line {}: bad line number {line:?}", n + 1))?;
        if reason.trim().is_empty() {
            return Err(format!(
                "exclusions.tsv line {}: a reason is required",
                n + 1
            ));
        }
        out.entry(file.to_string())
            .or_default()
            .insert(line, reason.trim().to_string());
    }
    Ok(out)
}

/// baseline.txt: the minimum float-only pass count (first non-comment line).
pub fn parse_baseline(text: &str) -> Result<usize, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("baseline.txt has no number")?;
    line.parse()
        .map_err(|_| format!("baseline.txt: {line:?} is not a count"))
}

/// Everything one file produced.
pub struct FileOutcome {
    pub file: String,
    /// Set when the file could not be parsed: all its statements count as failed.
    pub parse_error: Option<String>,
    pub statements: Vec<StatementReport>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub float_passed: usize,
    pub float_total: usize,
    pub nh_passed: usize,
    pub nh_total: usize,
    pub annotations_matched: usize,
    pub annotations_checked: usize,
    /// Statements present in a file but missing from INDEX.tsv (a stale index).
    pub unindexed: Vec<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "promql conformance: float-only {}/{} passed, native-histogram {}/{} passed",
            self.float_passed, self.float_total, self.nh_passed, self.nh_total
        )
    }
}

pub fn file_line(o: &FileOutcome, index: &Index) -> String {
    if let Some(e) = &o.parse_error {
        let (fl, nh) = index.totals(Some(&o.file));
        return format!(
            "{}: 0 passed, {} failed, 0 skipped (parse error: {e})",
            o.file,
            fl + nh
        );
    }
    let count = |f: fn(&Verdict) -> bool| o.statements.iter().filter(|s| f(&s.verdict)).count();
    let passed = count(|v| matches!(v, Verdict::Passed));
    let failed = count(|v| matches!(v, Verdict::Failed(_)));
    let skipped = count(|v| matches!(v, Verdict::Skipped(_) | Verdict::Excluded(_)));
    format!(
        "{}: {passed} passed, {failed} failed, {skipped} skipped",
        o.file
    )
}

pub fn summarize(outcomes: &[FileOutcome], index: &Index, only_file: Option<&str>) -> Summary {
    let (float_total, nh_total) = index.totals(only_file);
    let mut s = Summary {
        float_total,
        nh_total,
        ..Summary::default()
    };
    for o in outcomes {
        for st in &o.statements {
            if let Some(ok) = st.annotations_ok {
                s.annotations_checked += 1;
                s.annotations_matched += usize::from(ok);
            }
            match index.needs_nh.get(&(o.file.clone(), st.line)) {
                None => s.unindexed.push(format!("{}:{}", o.file, st.line)),
                Some(_) if st.verdict != Verdict::Passed => {}
                Some(true) => s.nh_passed += 1,
                Some(false) => s.float_passed += 1,
            }
        }
    }
    s
}

/// Verdict counts per reason class, for the verbose listing.
pub fn failures_by_file(outcomes: &[FileOutcome]) -> BTreeMap<&str, Vec<&StatementReport>> {
    let mut out: BTreeMap<&str, Vec<&StatementReport>> = BTreeMap::new();
    for o in outcomes {
        for s in &o.statements {
            if matches!(s.verdict, Verdict::Failed(_)) {
                out.entry(o.file.as_str()).or_default().push(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_index_exclusions_and_baseline() {
        let idx = Index::parse("# file\tline\tkind\tneeds\ttags\texpr\na.test\t3\tinstant\tno\t-\tx\na.test\t9\trange\tyes\t-\ty\nb.test\t1\tinstant\tno\t-\tz\n").unwrap();
        assert_eq!(idx.totals(None), (2, 1));
        assert_eq!(idx.totals(Some("a.test")), (1, 1));
        assert!(Index::parse("h\na.test\tx\tinstant\tno\n").is_err());
        let ex = parse_exclusions("# comment\na.test\t3\tengine loops forever\n").unwrap();
        assert_eq!(ex["a.test"][&3], "engine loops forever");
        assert!(parse_exclusions("a.test\t3\n").is_err());
        assert_eq!(parse_baseline("# min\n 42\n"), Ok(42));
        assert!(parse_baseline("x").is_err());
    }

    #[test]
    fn summary_counts_by_index_column() {
        let idx = Index::parse("h\na.test\t1\tinstant\tno\t-\tx\na.test\t2\tinstant\tyes\t-\ty\na.test\t3\tinstant\tno\t-\tz\n").unwrap();
        let st = |line, verdict| StatementReport {
            line,
            expr: String::new(),
            verdict,
            annotations_ok: Some(line == 1),
        };
        let o = FileOutcome {
            file: "a.test".into(),
            parse_error: None,
            statements: vec![
                st(1, Verdict::Passed),
                st(2, Verdict::Passed),
                st(3, Verdict::Failed("x".into())),
                st(4, Verdict::Passed),
            ],
        };
        let s = summarize(std::slice::from_ref(&o), &idx, None);
        assert_eq!(
            (s.float_passed, s.float_total, s.nh_passed, s.nh_total),
            (1, 2, 1, 1)
        );
        assert_eq!((s.annotations_matched, s.annotations_checked), (1, 4));
        assert_eq!(s.unindexed, vec!["a.test:4".to_string()]);
        assert_eq!(
            s.line(),
            "promql conformance: float-only 1/2 passed, native-histogram 1/1 passed"
        );
        assert_eq!(file_line(&o, &idx), "a.test: 3 passed, 1 failed, 0 skipped");
    }
}
