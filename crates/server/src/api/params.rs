//! Request parameters of the Prometheus HTTP API: times, durations and `match[]` selectors.
//!
//! Parameters arrive in the URL query string and, for POST, in a form body; Prometheus
//! merges both, so [`Params`] does too.

use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use chrono::DateTime;
use tidemark_model::{MatchOp, Matcher, METRIC_NAME};

use super::response::ApiError;
use crate::duration::parse_api_duration;

/// Earliest and latest timestamps a request may leave open. Half the `i64` range keeps
/// `start - lookback` and similar arithmetic in storage and engine overflow-free.
pub const MIN_TIME_MS: i64 = i64::MIN / 2;
pub const MAX_TIME_MS: i64 = i64::MAX / 2;

/// Largest form body accepted on query endpoints.
const MAX_FORM_BYTES: usize = 8 << 20;

/// All `key=value` pairs from the query string and a POST form body, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// Only the URL query string; for endpoints whose body is data, not a form.
    pub fn from_query(query: Option<&str>) -> Params {
        let mut pairs = Vec::new();
        if let Some(q) = query {
            push_pairs(&mut pairs, q.as_bytes());
        }
        Params(pairs)
    }

    /// The first value of `key`, treating an empty value as absent (as Prometheus does).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key such as `match[]`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in milliseconds, `default` when absent.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => parse_time(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}"))),
        }
    }

    /// An optional non-negative integer such as `limit`.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => s.parse::<usize>().map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter \"{key}\": cannot parse {s:?} as a non-negative integer"
                ))
            }),
        }
    }

    /// `match[]` selectors as matcher sets (an `or` inside braces yields several sets).
    pub fn match_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        for sel in self.all("match[]") {
            sets.extend(parse_selector(sel).map_err(ApiError::bad_data)?);
        }
        Ok(sets)
    }
}

fn push_pairs(out: &mut Vec<(String, String)>, raw: &[u8]) {
    out.extend(form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())));
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs = Vec::new();
        if let Some(q) = req.uri().query() {
            push_pairs(&mut pairs, q.as_bytes());
        }
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && is_form {
            let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
                .await
                .map_err(|e| {
                    ApiError::bad_data(format!(
                        "cannot read form body (limit {MAX_FORM_BYTES} bytes): {e}"
                    ))
                })?;
            push_pairs(&mut pairs, &body);
        }
        Ok(Params(pairs))
    }
}

/// Parses an API time: Unix seconds with an optional fraction, or RFC 3339. Returns ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        // Round to milliseconds like Prometheus (which rounds the fraction to 1 ms).
        let ms = (secs * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid timestamp: out of range"
            ));
        }
        return Ok(ms as i64);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration parameter (`step`, `timeout`) and returns milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d = parse_api_duration(s)?;
    i64::try_from(d.as_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid duration: too large"))
}

fn convert_op(op: &promql_parser::label::MatchOp) -> MatchOp {
    use promql_parser::label::MatchOp as P;
    match op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::Regex,
        P::NotRe(_) => MatchOp::NotRegex,
    }
}

/// Parses one series selector (`up{job="x"}`) into matcher sets. Like Prometheus, a
/// selector must have at least one matcher that rejects the empty string, otherwise it
/// would select every series.
pub fn parse_selector(sel: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = promql_parser::parser::parse(sel)
        .map_err(|e| format!("invalid series selector {sel:?}: {e}"))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid series selector {sel:?}: want a vector selector like up{{job=\"x\"}}"
        ));
    };
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    let mut sets = Vec::with_capacity(groups.len());
    for group in groups {
        let mut set = Vec::with_capacity(group.len() + 1);
        if let Some(name) = &vs.name {
            set.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in group {
            set.push(
                Matcher::new(convert_op(&m.op), m.name.clone(), m.value.clone())
                    .map_err(|e| e.to_string())?,
            );
        }
        if set.iter().all(Matcher::matches_empty) {
            return Err(format!(
                "match[] selector {sel:?} must contain at least one non-empty matcher"
            ));
        }
        sets.push(set);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1700000000.1234").unwrap(), 1_700_000_000_123);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
        assert!(parse_time("1e300").is_err());
    }

    #[test]
    fn selectors_become_matcher_sets() {
        let sets = parse_selector(r#"up{job=~"a|b", instance!=""}"#).unwrap();
        assert_eq!(sets.len(), 1);
        let names: Vec<String> = sets[0].iter().map(|m| m.to_string()).collect();
        assert_eq!(
            names,
            vec![r#"__name__="up""#, r#"job=~"a|b""#, r#"instance!="""#]
        );
        assert_eq!(parse_selector(r#"{a="1" or b="2"}"#).unwrap().len(), 2);
    }

    #[test]
    fn selectors_matching_everything_are_refused() {
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("sum(up)").is_err());
        assert!(parse_selector("up{").is_err());
    }

    #[test]
    fn params_treat_empty_as_absent() {
        let p = Params(vec![
            ("time".into(), "".into()),
            ("match[]".into(), "a".into()),
            ("match[]".into(), "b".into()),
        ]);
        assert_eq!(p.get("time"), None);
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
        assert_eq!(p.time_or("time", 7).unwrap(), 7);
    }
}
