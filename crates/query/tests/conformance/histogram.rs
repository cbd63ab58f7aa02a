//! Native histogram literals `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}` (FORMAT.md §3.3).
//!
//! Parsed into `tidemark_model::FloatHistogram` (with its counter reset hint), which
//! the in-memory store hands to the engine.

use std::collections::BTreeMap;

use tidemark_model::{BucketSpan, FloatHistogram};

use super::series::parse_number;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterResetHint {
    Unknown,
    Reset,
    NotReset,
    Gauge,
}

/// A histogram plus whether the literal spelled out its counter reset hint.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    pub h: FloatHistogram,
    /// `Some` only when the literal spelled out `counter_reset_hint` (it is then compared).
    pub hint: Option<CounterResetHint>,
}

/// Parses one histogram item: `{{A}}`, `{{A}}xN`, `{{A}}+{{B}}xN` or `{{A}}-{{B}}xN`.
pub fn parse_histogram_item(item: &str) -> Result<Vec<HistogramValue>, String> {
    let (first, rest) = split_literal(item)?;
    let base = parse_histogram_literal(first)?;
    if rest.is_empty() {
        return Ok(vec![base]);
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n: usize = n
            .parse()
            .map_err(|_| format!("bad repetition in {item:?}"))?;
        return Ok(vec![base; n + 1]);
    }
    let sign = match rest.as_bytes()[0] {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return Err(format!("unexpected {rest:?} after histogram in {item:?}")),
    };
    let (second, tail) = split_literal(&rest[1..])?;
    let delta = parse_histogram_literal(second)?;
    let n: usize = tail
        .strip_prefix('x')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("histogram increment needs xN in {item:?}"))?;
    let mut out = vec![base.clone()];
    let mut cur = base;
    for _ in 0..n {
        cur.h = add_scaled(&cur.h, &delta.h, sign);
        out.push(cur.clone());
    }
    Ok(out)
}

/// Splits `{{...}}rest` into the inside of the braces and the rest.
fn split_literal(s: &str) -> Result<(&str, &str), String> {
    let inner = s
        .strip_prefix("{{")
        .ok_or_else(|| format!("expected '{{{{' in {s:?}"))?;
    let close = inner
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram in {s:?}"))?;
    Ok((&inner[..close], &inner[close + 2..]))
}

fn parse_histogram_literal(body: &str) -> Result<HistogramValue, String> {
    let mut h = FloatHistogram::default();
    let mut hint = None;
    let (mut buckets, mut n_buckets) = (Vec::new(), Vec::new());
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let mut rest = body.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("expected key:value in histogram {body:?}"))?;
        let key = rest[..colon].trim();
        rest = rest[colon + 1..].trim_start();
        let value;
        if rest.starts_with('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("unterminated list in histogram {body:?}"))?;
            value = &rest[..=end];
            rest = rest[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = &rest[..end];
            rest = rest[end..].trim_start();
        }
        let num = || {
            parse_number(value)
                .ok_or_else(|| format!("invalid number {value:?} for {key} in {body:?}"))
        };
        let int = || {
            value
                .parse::<i32>()
                .map_err(|_| format!("invalid integer {value:?} for {key} in {body:?}"))
        };
        match key {
            "schema" => h.schema = int()?,
            "sum" => h.sum = num()?,
            "count" => h.count = num()?,
            "z_bucket" => h.zero_count = num()?,
            "z_bucket_w" => h.zero_threshold = num()?,
            "buckets" => buckets = parse_list(value)?,
            "n_buckets" => n_buckets = parse_list(value)?,
            "offset" => offset = int()?,
            "n_offset" => n_offset = int()?,
            "custom_values" => h.custom_values = parse_list(value)?,
            "counter_reset_hint" => {
                hint = Some(match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::Reset,
                    "not_reset" => CounterResetHint::NotReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => return Err(format!("invalid counter_reset_hint {value:?}")),
                })
            }
            _ => return Err(format!("unknown histogram key {key:?} in {body:?}")),
        }
    }
    if let Some(hint) = hint {
        h.counter_reset_hint = model_hint(hint);
    }
    if !buckets.is_empty() {
        h.positive_spans = vec![BucketSpan {
            offset,
            length: buckets.len() as u32,
        }];
        h.positive_buckets = buckets;
    }
    if !n_buckets.is_empty() {
        h.negative_spans = vec![BucketSpan {
            offset: n_offset,
            length: n_buckets.len() as u32,
        }];
        h.negative_buckets = n_buckets;
    }
    Ok(HistogramValue { h, hint })
}

/// The model's hint for a parsed `counter_reset_hint` value.
pub fn model_hint(hint: CounterResetHint) -> tidemark_model::CounterResetHint {
    use tidemark_model::CounterResetHint as M;
    match hint {
        CounterResetHint::Unknown => M::Unknown,
        CounterResetHint::Reset => M::CounterReset,
        CounterResetHint::NotReset => M::NotCounterReset,
        CounterResetHint::Gauge => M::Gauge,
    }
}

fn parse_list(value: &str) -> Result<Vec<f64>, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| format!("bad list {value:?}"))?;
    inner
        .split_whitespace()
        .map(|v| parse_number(v).ok_or_else(|| format!("invalid number {v:?} in list {value:?}")))
        .collect()
}

/// Absolute bucket index → count, which makes bucket-wise arithmetic and span-insensitive
/// comparison simple.
pub fn bucket_map(spans: &[BucketSpan], counts: &[f64]) -> BTreeMap<i32, f64> {
    let mut map = BTreeMap::new();
    let mut idx = 0i32;
    let mut it = counts.iter();
    for span in spans {
        idx += span.offset;
        for _ in 0..span.length {
            if let Some(&c) = it.next() {
                map.insert(idx, c);
            }
            idx += 1;
        }
    }
    map
}

/// Rebuilds spans from an index map; consecutive indices share a span.
pub fn spans_from_map(map: &BTreeMap<i32, f64>) -> (Vec<BucketSpan>, Vec<f64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut counts = Vec::new();
    let mut next_idx: Option<i32> = None;
    for (&i, &c) in map {
        match (next_idx, spans.last_mut()) {
            (Some(n), Some(last)) if n == i => last.length += 1,
            _ => {
                let prev_end = next_idx.unwrap_or(0);
                spans.push(BucketSpan {
                    offset: i - prev_end,
                    length: 1,
                });
            }
        }
        counts.push(c);
        next_idx = Some(i + 1);
    }
    (spans, counts)
}

/// `a + sign·b` at the lower of both schemas (exponential buckets merge pairwise
/// into the coarser schema; custom buckets keep their indices).
fn add_scaled(a: &FloatHistogram, b: &FloatHistogram, sign: f64) -> FloatHistogram {
    let schema = if a.schema == -53 || b.schema == -53 {
        a.schema
    } else {
        a.schema.min(b.schema)
    };
    let coarsen = |m: BTreeMap<i32, f64>, from: i32| -> BTreeMap<i32, f64> {
        if from <= schema || schema == -53 {
            return m;
        }
        let shift = (from - schema) as u32;
        let mut out = BTreeMap::new();
        for (i, c) in m {
            *out.entry(((i - 1) >> shift) + 1).or_insert(0.0) += c;
        }
        out
    };
    let merge = |sa: &[BucketSpan], ca: &[f64], sb: &[BucketSpan], cb: &[f64]| {
        let mut m = coarsen(bucket_map(sa, ca), a.schema);
        for (i, c) in coarsen(bucket_map(sb, cb), b.schema) {
            *m.entry(i).or_insert(0.0) += sign * c;
        }
        spans_from_map(&m)
    };
    let (positive_spans, positive_buckets) = merge(
        &a.positive_spans,
        &a.positive_buckets,
        &b.positive_spans,
        &b.positive_buckets,
    );
    let (negative_spans, negative_buckets) = merge(
        &a.negative_spans,
        &a.negative_buckets,
        &b.negative_spans,
        &b.negative_buckets,
    );
    FloatHistogram {
        counter_reset_hint: a.counter_reset_hint,
        schema,
        zero_threshold: a.zero_threshold,
        zero_count: a.zero_count + sign * b.zero_count,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values: a.custom_values.clone(),
    }
}

/// Builds the custom-bucket (schema -53) histogram that `load_with_nhcb` synthesises from
/// classic buckets: `(upper bound, cumulative count)` pairs plus `_count`/`_sum`.
pub fn nhcb_from_classic(
    mut buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
) -> HistogramValue {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut map = BTreeMap::new();
    let mut custom_values = Vec::new();
    let mut prev = 0.0;
    for (i, &(le, cumulative)) in buckets.iter().enumerate() {
        if le.is_finite() {
            custom_values.push(le);
        }
        map.insert(i as i32, cumulative - prev);
        prev = cumulative;
    }
    let (positive_spans, positive_buckets) = spans_from_map(&map);
    let h = FloatHistogram {
        schema: -53,
        count: count.unwrap_or(prev),
        sum: sum.unwrap_or(0.0),
        positive_spans,
        positive_buckets,
        custom_values,
        ..FloatHistogram::default()
    };
    HistogramValue { h, hint: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys() {
        let v = parse_histogram_item(
            "{{schema:1 sum:-0.3 count:3.1 z_bucket:7.1 z_bucket_w:0.05 buckets:[5.1 10 7] offset:-3 n_buckets:[4.1 5] n_offset:-5 counter_reset_hint:gauge}}",
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        let h = &v[0].h;
        assert_eq!(
            (h.schema, h.sum, h.count, h.zero_count, h.zero_threshold),
            (1, -0.3, 3.1, 7.1, 0.05)
        );
        assert_eq!(
            h.positive_spans,
            vec![BucketSpan {
                offset: -3,
                length: 3
            }]
        );
        assert_eq!(h.negative_buckets, vec![4.1, 5.0]);
        assert_eq!(v[0].hint, Some(CounterResetHint::Gauge));
        assert!(parse_histogram_item("{{schema:x}}").is_err());
        assert!(parse_histogram_item("{{bogus:1}}").is_err());
    }

    #[test]
    fn repetition_and_increments() {
        assert_eq!(parse_histogram_item("{{count:1}}x2").unwrap().len(), 3);
        let v =
            parse_histogram_item("{{count:1 buckets:[1]}}+{{count:2 buckets:[1 1]}}x2").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].h.count, 5.0);
        assert_eq!(
            bucket_map(&v[2].h.positive_spans, &v[2].h.positive_buckets),
            BTreeMap::from([(0, 3.0), (1, 2.0)])
        );
        assert!(parse_histogram_item("{{count:1}}+{{count:1}}").is_err());
    }

    #[test]
    fn spans_round_trip_with_gaps() {
        let m = BTreeMap::from([(-2, 1.0), (-1, 2.0), (3, 4.0)]);
        let (spans, counts) = spans_from_map(&m);
        assert_eq!(
            spans,
            vec![
                BucketSpan {
                    offset: -2,
                    length: 2
                },
                BucketSpan {
                    offset: 3,
                    length: 1
                }
            ]
        );
        assert_eq!(bucket_map(&spans, &counts), m);
    }

    #[test]
    fn nhcb_de_cumulates_buckets() {
        let v = nhcb_from_classic(
            vec![(f64::INFINITY, 6.0), (0.1, 1.0), (1.0, 4.0)],
            Some(6.0),
            Some(3.5),
        );
        assert_eq!(v.h.custom_values, vec![0.1, 1.0]);
        assert_eq!(v.h.positive_buckets, vec![1.0, 3.0, 2.0]);
        assert_eq!((v.h.schema, v.h.count, v.h.sum), (-53, 6.0, 3.5));
    }
}
