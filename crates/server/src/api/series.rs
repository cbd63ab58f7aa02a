//! Series metadata endpoints: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and `/api/v1/metadata`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;
use tidemark_model::{Matcher, Tenant};

use super::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use super::response::{success, ApiError};
use super::with_storage;
use crate::state::SharedState;

const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// Common `match[]`, `start`, `end`, `limit` parameters of the metadata endpoints.
struct Selection {
    match_sets: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
    limit: usize,
}

impl Selection {
    fn parse(params: &Params) -> Result<Selection, ApiError> {
        let start = params.time_or("start", MIN_TIME_MS)?;
        let end = params.time_or("end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        Ok(Selection {
            match_sets: params.match_sets()?,
            start,
            end,
            limit: params.usize_or("limit", 0)?,
        })
    }

    /// Asks storage for one more than `limit` so truncation can be reported.
    fn fetch_limit(&self) -> usize {
        if self.limit == 0 {
            0
        } else {
            self.limit.saturating_add(1)
        }
    }

    /// Cuts to `limit` and returns the warnings to attach.
    fn truncate<T>(&self, items: &mut Vec<T>) -> Vec<String> {
        if self.limit > 0 && items.len() > self.limit {
            items.truncate(self.limit);
            vec![TRUNCATED_WARNING.to_string()]
        } else {
            Vec::new()
        }
    }
}

pub async fn series(State(st): State<SharedState>, params: Params) -> Result<Response, ApiError> {
    let sel = Selection::parse(&params)?;
    if sel.match_sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (sets, start, end, limit) = (
        sel.match_sets.clone(),
        sel.start,
        sel.end,
        sel.fetch_limit(),
    );
    let mut found = with_storage(&st, move |s| {
        s.series(Tenant::DEFAULT, &sets, start, end, limit)
    })
    .await?;
    let warnings = sel.truncate(&mut found);
    let data: Vec<serde_json::Value> = found
        .iter()
        .map(|labels| {
            let map: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|l| (l.name.clone(), json!(l.value)))
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    Ok(success(json!(data), &warnings, &[]))
}

pub async fn label_names(
    State(st): State<SharedState>,
    params: Params,
) -> Result<Response, ApiError> {
    let sel = Selection::parse(&params)?;
    let (sets, start, end, limit) = (
        sel.match_sets.clone(),
        sel.start,
        sel.end,
        sel.fetch_limit(),
    );
    let mut names = with_storage(&st, move |s| {
        s.label_names(Tenant::DEFAULT, &sets, start, end, limit)
    })
    .await?;
    let warnings = sel.truncate(&mut names);
    Ok(success(json!(names), &warnings, &[]))
}

/// Label names in the URL may use Prometheus 3's `U__` escaping for non-classic characters.
fn unescape_label_name(raw: &str) -> Result<String, ApiError> {
    let Some(rest) = raw.strip_prefix("U__") else {
        return Ok(raw.to_string());
    };
    let bad = || ApiError::bad_data(format!("invalid label name: {raw:?}"));
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        if hex.is_empty() {
            out.push('_');
            continue;
        }
        let code = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
        out.push(char::from_u32(code).ok_or_else(bad)?);
    }
    Ok(out)
}

pub async fn label_values(
    State(st): State<SharedState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let name = unescape_label_name(&name)?;
    if name.is_empty() {
        return Err(ApiError::bad_data("invalid label name: \"\""));
    }
    let sel = Selection::parse(&params)?;
    let (sets, start, end, limit) = (
        sel.match_sets.clone(),
        sel.start,
        sel.end,
        sel.fetch_limit(),
    );
    let mut values = with_storage(&st, move |s| {
        s.label_values(Tenant::DEFAULT, &name, &sets, start, end, limit)
    })
    .await?;
    let warnings = sel.truncate(&mut values);
    Ok(success(json!(values), &warnings, &[]))
}

pub async fn metadata(State(st): State<SharedState>, params: Params) -> Result<Response, ApiError> {
    let limit = params.usize_or("limit", 0)?;
    let per_metric = params.usize_or("limit_per_metric", 0)?;
    let data = st.metadata.query(params.get("metric"), limit, per_metric);
    Ok(success(data, &[], &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_escaped_label_names() {
        assert_eq!(unescape_label_name("job").unwrap(), "job");
        assert_eq!(unescape_label_name("U__a_2e_b").unwrap(), "a.b");
        assert_eq!(unescape_label_name("U__a__b").unwrap(), "a_b");
        assert!(unescape_label_name("U__a_zz_").is_err());
    }
}
