//! The `.test` script language: commands `load`, `load_with_nhcb`, `clear` and `eval`
//! with their body lines (FORMAT.md §1–§5.2).

use std::sync::OnceLock;

use regex::Regex;

use super::series::{
    parse_labels_prefix, parse_number, parse_series_desc, parse_string_literal, SeriesDesc,
};

#[derive(Debug)]
pub enum Command {
    Load(LoadCmd),
    Clear,
    Eval(Box<EvalCmd>),
}

#[derive(Debug)]
pub struct LoadCmd {
    pub step_ms: i64,
    /// `load_with_nhcb`: also synthesise custom-bucket histograms from `le` buckets.
    pub with_nhcb: bool,
    pub series: Vec<LoadSeries>,
}

#[derive(Debug)]
pub struct LoadSeries {
    pub desc: SeriesDesc,
    /// Start-timestamp offsets from a preceding `@st` line (one per slot, `None` = gap).
    pub start_offsets: Option<Vec<Option<i64>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMode {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an expected error or annotation text is matched.
#[derive(Debug, Clone)]
pub enum MessageMatch {
    Any,
    Exact(String),
    Regex(Regex),
}

impl MessageMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            MessageMatch::Any => true,
            MessageMatch::Exact(m) => m == text,
            MessageMatch::Regex(r) => r.is_match(text),
        }
    }
}

/// Expectations about one annotation kind (warnings or infos).
#[derive(Debug, Clone, Default)]
pub struct AnnotationExpect {
    /// `expect warn`/`expect info` lines (each possibly with msg/regex).
    pub lines: Vec<MessageMatch>,
    /// `expect no_warn`/`expect no_info`.
    pub none: bool,
    /// Legacy `eval_warn`/`eval_info`: at least one annotation of the kind.
    pub at_least_one: bool,
}

impl AnnotationExpect {
    pub fn is_checked(&self) -> bool {
        !self.lines.is_empty() || self.none || self.at_least_one
    }
}

#[derive(Debug, Clone)]
pub enum Expected {
    /// Series lines (possibly none: an empty result).
    Series(Vec<SeriesDesc>),
    Scalar(f64),
    String(String),
}

/// `expect range vector from a to b step s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeVectorExpect {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

#[derive(Debug)]
pub struct EvalCmd {
    /// 1-based line of the `eval` header (matches INDEX.tsv).
    pub line: usize,
    pub expr: String,
    pub mode: EvalMode,
    pub fail: Option<MessageMatch>,
    pub warn: AnnotationExpect,
    pub info: AnnotationExpect,
    pub ordered: bool,
    pub range_vector: Option<RangeVectorExpect>,
    pub expected: Expected,
}

impl EvalCmd {
    /// The instant evaluation time, after `expect range vector` replaced it.
    pub fn instant_time(&self) -> Option<i64> {
        match self.mode {
            EvalMode::Instant { at_ms } => Some(self.range_vector.map_or(at_ms, |r| r.end_ms)),
            EvalMode::Range { .. } => None,
        }
    }
}

/// Parses a Prometheus duration (`1h30m`, `5m1ms`, `0`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"([0-9]+)(ms|s|m|h|d|w|y)").expect("valid regex"));
    if s == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let mut pos = 0;
    let mut last_unit_rank = usize::MAX;
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("whole match");
        if m.start() != pos {
            return Err(format!("invalid duration {s:?}"));
        }
        pos = m.end();
        let (rank, unit_ms) = match &caps[2] {
            "y" => (6, 365 * 86_400_000),
            "w" => (5, 7 * 86_400_000),
            "d" => (4, 86_400_000),
            "h" => (3, 3_600_000),
            "m" => (2, 60_000),
            "s" => (1, 1000),
            _ => (0, 1),
        };
        if rank >= last_unit_rank {
            return Err(format!("units out of order in duration {s:?}"));
        }
        last_unit_rank = rank;
        let n: i64 = caps[1]
            .parse()
            .map_err(|_| format!("duration {s:?} is too large"))?;
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    if pos != s.len() || pos == 0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(total)
}

/// A duration with an optional sign, as used by `@st` items.
fn parse_signed_duration(s: &str) -> Result<i64, String> {
    match s.strip_prefix('-') {
        Some(rest) => Ok(-parse_duration(rest)?),
        None => parse_duration(s.strip_prefix('+').unwrap_or(s)),
    }
}

/// Expands the items of an `@st` line (FORMAT.md §3.4).
fn parse_start_offsets(text: &str) -> Result<Vec<Option<i64>>, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        let dur = r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+|0";
        Regex::new(&format!(
            r"^([+-]?(?:{dur}))(?:([+-])({dur}))?(?:x([0-9]+))?$"
        ))
        .expect("valid regex")
    });
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n
                .parse()
                .map_err(|_| format!("bad repetition in {item:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let caps = re
            .captures(item)
            .ok_or_else(|| format!("invalid start-timestamp item {item:?}"))?;
        let start = parse_signed_duration(&caps[1])?;
        let delta = match (caps.get(2), caps.get(3)) {
            (Some(sign), Some(d)) => {
                parse_duration(d.as_str())? * if sign.as_str() == "-" { -1 } else { 1 }
            }
            _ => 0,
        };
        let n: usize = match caps.get(4) {
            Some(n) => n
                .as_str()
                .parse()
                .map_err(|_| format!("bad repetition in {item:?}"))?,
            None if caps.get(2).is_some() => {
                return Err(format!("increment without xN in {item:?}"))
            }
            None => 0,
        };
        out.extend((0..=n as i64).map(|i| Some(start + i * delta)));
    }
    Ok(out)
}

fn eval_instant_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^eval(?:_(fail|warn|info|ordered))?\s+instant\s+at\s+(\S+)\s+(.+)$")
            .expect("valid regex")
    })
}

fn eval_range_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$").expect("valid regex")
    })
}

/// An error with the 1-based line it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses a whole file. Like upstream, any error invalidates the file.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .map(|l| if l.starts_with('#') { "" } else { l })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let err = |message: String| ScriptError {
            line: i + 1,
            message,
        };
        let (cmd, next) = if word == "clear" {
            (Command::Clear, i + 1)
        } else if word.starts_with("load") {
            let (load, next) = parse_load(&lines, i).map_err(|(l, m)| ScriptError {
                line: l + 1,
                message: m,
            })?;
            (Command::Load(load), next)
        } else if word.starts_with("eval") {
            let (eval, next) = parse_eval(&lines, i).map_err(|(l, m)| ScriptError {
                line: l + 1,
                message: m,
            })?;
            (Command::Eval(Box::new(eval)), next)
        } else {
            return Err(err(format!("unknown command {word:?}")));
        };
        commands.push(cmd);
        i = next;
    }
    Ok(commands)
}

type LineResult<T> = Result<T, (usize, String)>;

fn parse_load(lines: &[&str], start: usize) -> LineResult<(LoadCmd, usize)> {
    let mut words = lines[start].split_whitespace();
    let with_nhcb = match words.next() {
        Some(w) if w.eq_ignore_ascii_case("load") => false,
        Some(w) if w.eq_ignore_ascii_case("load_with_nhcb") => true,
        other => return Err((start, format!("unknown load command {other:?}"))),
    };
    let step = words
        .next()
        .ok_or((start, "load needs a step".to_string()))?;
    if words.next().is_some() {
        return Err((
            start,
            format!("unexpected text after load step in {:?}", lines[start]),
        ));
    }
    let step_ms = parse_duration(step).map_err(|e| (start, e))?;
    let mut series = Vec::new();
    let mut pending_offsets: Option<(usize, Vec<Option<i64>>)> = None;
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let (_, rest) = parse_labels_prefix(lines[i]).map_err(|e| (i, e))?;
        if let Some(items) = rest.strip_prefix("@st") {
            if pending_offsets.is_some() {
                return Err((i, "@st line not followed by its sample line".to_string()));
            }
            pending_offsets = Some((i, parse_start_offsets(items).map_err(|e| (i, e))?));
        } else {
            let desc = parse_series_desc(lines[i]).map_err(|e| (i, e))?;
            let start_offsets = match pending_offsets.take() {
                Some((st_line, offsets)) => {
                    if offsets.len() != desc.slots.len() {
                        return Err((
                            st_line,
                            format!(
                                "@st line has {} items, sample line {}",
                                offsets.len(),
                                desc.slots.len()
                            ),
                        ));
                    }
                    Some(offsets)
                }
                None => None,
            };
            series.push(LoadSeries {
                desc,
                start_offsets,
            });
        }
        i += 1;
    }
    if let Some((st_line, _)) = pending_offsets {
        return Err((st_line, "@st line at the end of a load block".to_string()));
    }
    Ok((
        LoadCmd {
            step_ms,
            with_nhcb,
            series,
        },
        i,
    ))
}

fn parse_message_match(kind: &str, text: &str, line: usize) -> LineResult<MessageMatch> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(MessageMatch::Any);
    }
    if let Some(m) = text.strip_prefix("msg:") {
        return Ok(MessageMatch::Exact(m.trim().to_string()));
    }
    if let Some(r) = text.strip_prefix("regex:") {
        let re = Regex::new(r.trim())
            .map_err(|e| (line, format!("invalid regex in expect {kind}: {e}")))?;
        return Ok(MessageMatch::Regex(re));
    }
    Err((
        line,
        format!("expected msg: or regex: after expect {kind}, got {text:?}"),
    ))
}

fn parse_eval(lines: &[&str], start: usize) -> LineResult<(EvalCmd, usize)> {
    let header = lines[start];
    let (modifier, mode, expr) = if let Some(c) = eval_instant_re().captures(header) {
        let at_ms = parse_duration(&c[2]).map_err(|e| (start, e))?;
        (
            c.get(1).map(|m| m.as_str().to_string()),
            EvalMode::Instant { at_ms },
            c[3].to_string(),
        )
    } else if let Some(c) = eval_range_re().captures(header) {
        let start_ms = parse_duration(&c[2]).map_err(|e| (start, e))?;
        let end_ms = parse_duration(&c[3]).map_err(|e| (start, e))?;
        let step_ms = parse_duration(&c[4]).map_err(|e| (start, e))?;
        if end_ms < start_ms {
            return Err((start, "range end is before start".to_string()));
        }
        if step_ms <= 0 {
            return Err((start, "range step must be positive".to_string()));
        }
        (
            c.get(1).map(|m| m.as_str().to_string()),
            EvalMode::Range {
                start_ms,
                end_ms,
                step_ms,
            },
            c[5].to_string(),
        )
    } else {
        return Err((start, format!("invalid eval command {header:?}")));
    };
    let mut cmd = EvalCmd {
        line: start + 1,
        expr,
        mode,
        fail: None,
        warn: AnnotationExpect::default(),
        info: AnnotationExpect::default(),
        ordered: false,
        range_vector: None,
        expected: Expected::Series(Vec::new()),
    };
    match modifier.as_deref() {
        Some("fail") => cmd.fail = Some(MessageMatch::Any),
        Some("warn") => cmd.warn.at_least_one = true,
        Some("info") => cmd.info.at_least_one = true,
        Some("ordered") => cmd.ordered = true,
        _ => {}
    }
    let mut series = Vec::new();
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let line = lines[i];
        i += 1;
        let here = i - 1;
        if let Some(m) = line.strip_prefix("expected_fail_message") {
            if modifier.as_deref() != Some("fail") {
                return Err((
                    here,
                    "expected_fail_message is only allowed after eval_fail".to_string(),
                ));
            }
            cmd.fail = Some(MessageMatch::Exact(m.trim().to_string()));
            break;
        }
        if let Some(r) = line.strip_prefix("expected_fail_regexp") {
            if modifier.as_deref() != Some("fail") {
                return Err((
                    here,
                    "expected_fail_regexp is only allowed after eval_fail".to_string(),
                ));
            }
            let re = Regex::new(r.trim())
                .map_err(|e| (here, format!("invalid expected_fail_regexp: {e}")))?;
            cmd.fail = Some(MessageMatch::Regex(re));
            break;
        }
        if let Some(rest) = line.strip_prefix("expect ") {
            parse_expect_line(&mut cmd, rest.trim(), here)?;
            continue;
        }
        if let Some(v) = parse_scalar_line(line) {
            cmd.expected = Expected::Scalar(v);
            return finish_eval(cmd, series, i, here);
        }
        let desc = parse_series_desc(line).map_err(|e| (here, e))?;
        let single_value =
            matches!(cmd.mode, EvalMode::Instant { .. }) && cmd.range_vector.is_none();
        if single_value && desc.slots.len() != 1 {
            return Err((
                here,
                format!(
                    "expected exactly one value for an instant eval, got {}",
                    desc.slots.len()
                ),
            ));
        }
        series.push(desc);
    }
    finish_eval(cmd, series, i, i.saturating_sub(1))
}

fn finish_eval(
    mut cmd: EvalCmd,
    series: Vec<SeriesDesc>,
    next: usize,
    line: usize,
) -> LineResult<(EvalCmd, usize)> {
    if !series.is_empty() {
        if !matches!(cmd.expected, Expected::Series(_)) {
            return Err((
                line,
                "series lines together with a scalar or string expectation".to_string(),
            ));
        }
        cmd.expected = Expected::Series(series);
    }
    if cmd.ordered && matches!(cmd.mode, EvalMode::Range { .. }) {
        return Err((
            line,
            "expect ordered is not allowed for range evals".to_string(),
        ));
    }
    if (cmd.warn.none && !cmd.warn.lines.is_empty())
        || (cmd.info.none && !cmd.info.lines.is_empty())
    {
        return Err((
            line,
            "expect warn/info together with no_warn/no_info".to_string(),
        ));
    }
    Ok((cmd, next))
}

/// Go's `ParseInt(s, 0, 64)` else `ParseFloat(s, 64)`: a bare number means "scalar result".
fn parse_scalar_line(line: &str) -> Option<f64> {
    if line.contains(char::is_whitespace) {
        return None;
    }
    parse_number(line)
}

fn parse_expect_line(cmd: &mut EvalCmd, rest: &str, line: usize) -> LineResult<()> {
    if let Some(range) = rest.strip_prefix("range vector") {
        static RE: OnceLock<Regex> = OnceLock::new();
        let re = RE.get_or_init(|| {
            Regex::new(r"^\s*from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s*$").expect("valid regex")
        });
        let c = re
            .captures(range)
            .ok_or((line, format!("invalid expect range vector line {rest:?}")))?;
        let EvalMode::Instant { .. } = cmd.mode else {
            return Err((
                line,
                "expect range vector is only allowed for instant evals".to_string(),
            ));
        };
        let parse = |s: &str| parse_duration(s).map_err(|e| (line, e));
        cmd.range_vector = Some(RangeVectorExpect {
            start_ms: parse(&c[1])?,
            end_ms: parse(&c[2])?,
            step_ms: parse(&c[3])?,
        });
        return Ok(());
    }
    if let Some(s) = rest.strip_prefix("string") {
        let s = s.trim();
        let (text, end) = parse_string_literal(s, 0).map_err(|e| (line, e))?;
        if end != s.len() {
            return Err((
                line,
                format!("unexpected text after expect string in {rest:?}"),
            ));
        }
        cmd.expected = Expected::String(text);
        return Ok(());
    }
    let (kind, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind {
        "fail" => {
            if cmd.fail.is_some() {
                return Err((line, "more than one expect fail".to_string()));
            }
            cmd.fail = Some(parse_message_match(kind, tail, line)?);
        }
        "warn" => cmd.warn.lines.push(parse_message_match(kind, tail, line)?),
        "info" => cmd.info.lines.push(parse_message_match(kind, tail, line)?),
        "no_warn" => cmd.warn.none = true,
        "no_info" => cmd.info.none = true,
        "ordered" => cmd.ordered = true,
        other => return Err((line, format!("unknown expect type {other:?}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("5m1ms"), Ok(300_001));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("1.5m").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1m").is_err());
    }

    #[test]
    fn start_offsets() {
        let v = parse_start_offsets("_ _ -30s-1mx2 -1msx1 _x2").unwrap();
        assert_eq!(
            v,
            vec![
                None,
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(-1),
                Some(-1),
                None,
                None
            ]
        );
        assert!(parse_start_offsets("1q").is_err());
    }

    const SCRIPT: &str = r#"
# comment
load 1m
    metric{a="1"} 0+10x2
    other{}@st _ -1m
    other{} 1 2

eval instant at 1m metric
    metric{a="1"} 10
# trailing comment

eval range from 0 to 2m step 1m metric * 2
    expect no_warn
    expect info msg: PromQL info: x (1:1)
    {a="1"} 0 _ 40

eval instant at 0 1 + 1
    2

eval_fail instant at 0 foo(
    expected_fail_message bad

eval instant at 0 "a"
    expect string `a`

eval instant at 2m metric[1m]
    expect range vector from 1m to 2m step 1m
    metric{a="1"} 10 20

clear
"#;

    #[test]
    fn parses_a_script() {
        let cmds = parse_script(SCRIPT).unwrap();
        assert_eq!(cmds.len(), 8);
        let Command::Load(load) = &cmds[0] else {
            panic!("want load")
        };
        assert_eq!(load.step_ms, 60_000);
        assert_eq!(load.series.len(), 2);
        assert_eq!(
            load.series[1].start_offsets,
            Some(vec![None, Some(-60_000)])
        );
        let Command::Eval(e) = &cmds[1] else {
            panic!("want eval")
        };
        assert_eq!(
            (e.line, e.expr.as_str(), e.mode),
            (8, "metric", EvalMode::Instant { at_ms: 60_000 })
        );
        let Command::Eval(e) = &cmds[2] else {
            panic!("want eval")
        };
        assert!(
            e.warn.none
                && e.info.lines.len() == 1
                && e.info.lines[0].matches("PromQL info: x (1:1)")
        );
        let Expected::Series(s) = &e.expected else {
            panic!("want series")
        };
        assert_eq!(s[0].slots.len(), 3);
        let Command::Eval(e) = &cmds[3] else {
            panic!("want eval")
        };
        assert!(matches!(e.expected, Expected::Scalar(v) if v == 2.0));
        let Command::Eval(e) = &cmds[4] else {
            panic!("want eval")
        };
        assert!(e
            .fail
            .as_ref()
            .is_some_and(|f| f.matches("bad") && !f.matches("bad!")));
        let Command::Eval(e) = &cmds[5] else {
            panic!("want eval")
        };
        assert!(matches!(&e.expected, Expected::String(s) if s == "a"));
        let Command::Eval(e) = &cmds[6] else {
            panic!("want eval")
        };
        assert_eq!(e.instant_time(), Some(120_000));
        assert!(matches!(cmds[7], Command::Clear));
    }

    #[test]
    fn rejects_bad_scripts() {
        assert_eq!(parse_script("bogus 1").unwrap_err().line, 1);
        assert!(
            parse_script("eval instant at 0 x\n  x 1 2").is_err(),
            "instant evals take one value"
        );
        assert!(parse_script("eval instant at 0 x\n  expect warn\n  expect no_warn").is_err());
        assert!(parse_script("eval instant at 0 x\n  expect fail\n  expect fail").is_err());
        assert!(parse_script("eval range from 0 to 1m step 1m x\n  expect ordered").is_err());
        assert!(parse_script("eval range from 2m to 1m step 1m x").is_err());
        assert!(parse_script("load 1m\n  a{}@st 1m").is_err());
        assert!(parse_script("eval instant at 0 x\n  expect bogus").is_err());
    }
}
