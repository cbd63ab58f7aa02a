//! An in-memory [`Queryable`] holding the series of the current `load` scope.
//!
//! Floats and native histograms are kept per timestamp (a slot holds one or the
//! other) and returned through `SelectedSeries`, so histogram statements are judged
//! like float ones.

use std::collections::{BTreeMap, HashMap};

use tidemark_model::{
    BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, Labels, Matcher, Sample,
    METRIC_NAME,
};
use tidemark_query::{QueryError, Queryable, SelectedSeries};

use super::histogram::{bucket_map, nhcb_from_classic, HistogramValue};
use super::script::LoadCmd;
use super::series::{parse_number, Slot};

#[derive(Default)]
struct StoredSeries {
    floats: BTreeMap<i64, f64>,
    histograms: BTreeMap<i64, HistogramValue>,
    /// Start timestamps (`@st` lines) by sample timestamp, whatever the sample's kind.
    start_times: BTreeMap<i64, i64>,
}

impl StoredSeries {
    fn put_float(&mut self, t: i64, v: f64) {
        self.histograms.remove(&t);
        self.floats.insert(t, v);
    }

    fn put_histogram(&mut self, t: i64, h: HistogramValue) {
        self.floats.remove(&t);
        self.histograms.insert(t, h);
    }

    /// The histogram at `t` with the counter reset hint Prometheus' TSDB would
    /// return: an unknown hint becomes `NotCounterReset` when the previous sample
    /// is a histogram of the same layout that `t` continues (same TSDB chunk);
    /// the first histogram of a chunk keeps `Unknown`.
    fn histogram_as_read(&self, t: i64) -> FloatHistogram {
        let mut h = self.histograms[&t].h.clone();
        if h.counter_reset_hint != CounterResetHint::Unknown {
            return h;
        }
        let prev_float = self.floats.range(..t).next_back().map(|(&pt, _)| pt);
        let Some((&pt, prev)) = self.histograms.range(..t).next_back() else {
            return h;
        };
        if prev_float.is_some_and(|ft| ft > pt) {
            return h;
        }
        if continues_in_chunk(&prev.h, &h) {
            h.counter_reset_hint = CounterResetHint::NotCounterReset;
        }
        h
    }

    /// Records (or, for `None`, forgets) the start timestamp of the sample at `t`.
    fn set_start_time(&mut self, t: i64, st: Option<i64>) {
        match st {
            Some(st) => self.start_times.insert(t, st),
            None => self.start_times.remove(&t),
        };
    }

    /// The start timestamps of the samples at `timestamps`, 0 where unknown; empty
    /// when none is known, as the `Queryable` contract asks.
    fn start_times_of(&self, timestamps: impl Iterator<Item = i64> + Clone) -> Vec<i64> {
        if !timestamps
            .clone()
            .any(|t| self.start_times.contains_key(&t))
        {
            return Vec::new();
        }
        timestamps
            .map(|t| self.start_times.get(&t).copied().unwrap_or(0))
            .collect()
    }
}

/// Whether TSDB would append `cur` to the chunk holding `prev`: same kind, same
/// bucket layout, and no count or bucket went down (a counter reset).
fn continues_in_chunk(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    if prev.counter_reset_hint == CounterResetHint::Gauge
        || prev.schema != cur.schema
        || prev.zero_threshold != cur.zero_threshold
        || prev.custom_values != cur.custom_values
        || cur.count < prev.count
        || cur.zero_count < prev.zero_count
    {
        return false;
    }
    let no_bucket_dropped = |ps: &[BucketSpan], pc: &[f64], cs: &[BucketSpan], cc: &[f64]| {
        let (p, c) = (bucket_map(ps, pc), bucket_map(cs, cc));
        p.iter()
            .all(|(i, pv)| c.get(i).copied().unwrap_or(0.0) >= *pv)
    };
    no_bucket_dropped(
        &prev.positive_spans,
        &prev.positive_buckets,
        &cur.positive_spans,
        &cur.positive_buckets,
    ) && no_bucket_dropped(
        &prev.negative_spans,
        &prev.negative_buckets,
        &cur.negative_spans,
        &cur.negative_buckets,
    )
}

#[derive(Default)]
pub struct MemoryStore {
    series: BTreeMap<Labels, StoredSeries>,
}

impl MemoryStore {
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Appends a `load` block: slot *i* is at `i * step`; later lines for the same label
    /// set replace earlier ones within the block; blocks add to what is stored. An
    /// `@st` line's offsets become start timestamps `t + offset` of its line's samples.
    pub fn load(&mut self, cmd: &LoadCmd) {
        let mut block: BTreeMap<&Labels, &[Slot]> = BTreeMap::new();
        let mut start_offsets: BTreeMap<&Labels, &[Option<i64>]> = BTreeMap::new();
        for s in &cmd.series {
            block.insert(&s.desc.labels, &s.desc.slots);
            match &s.start_offsets {
                Some(offsets) => start_offsets.insert(&s.desc.labels, offsets),
                None => start_offsets.remove(&s.desc.labels),
            };
        }
        for (labels, slots) in &block {
            let offsets = start_offsets.get(labels).copied().unwrap_or(&[]);
            let stored = self.series.entry((*labels).clone()).or_default();
            for (i, slot) in slots.iter().enumerate() {
                let t = i as i64 * cmd.step_ms;
                match slot {
                    Slot::Gap => continue,
                    Slot::Float(v) => stored.put_float(t, *v),
                    Slot::Histogram(h) => stored.put_histogram(t, (**h).clone()),
                }
                let st = offsets.get(i).copied().flatten().map(|off| t + off);
                stored.set_start_time(t, st);
            }
        }
        if cmd.with_nhcb {
            self.synthesise_nhcb(&block, cmd.step_ms);
        }
    }

    /// `load_with_nhcb`: one custom-bucket histogram per classic histogram and timestamp.
    fn synthesise_nhcb(&mut self, block: &BTreeMap<&Labels, &[Slot]>, step_ms: i64) {
        #[derive(Default)]
        struct Group {
            buckets: BTreeMap<i64, Vec<(f64, f64)>>,
            counts: HashMap<i64, f64>,
            sums: HashMap<i64, f64>,
        }
        let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
        for (labels, slots) in block {
            let Some(name) = labels.metric_name() else {
                continue;
            };
            let (base, role) = if let Some(b) = name.strip_suffix("_bucket") {
                (b, 0)
            } else if let Some(b) = name.strip_suffix("_count") {
                (b, 1)
            } else if let Some(b) = name.strip_suffix("_sum") {
                (b, 2)
            } else {
                continue;
            };
            let le = labels.get("le").map(|v| v.trim());
            let mut b = labels.builder();
            b.delete("le").set(METRIC_NAME, base);
            let group = groups.entry(b.build()).or_default();
            for (i, slot) in slots.iter().enumerate() {
                let Slot::Float(v) = slot else { continue };
                let t = i as i64 * step_ms;
                match role {
                    0 => {
                        let Some(bound) = le.and_then(parse_number).filter(|b| !b.is_nan()) else {
                            continue;
                        };
                        group.buckets.entry(t).or_default().push((bound, *v));
                    }
                    1 => {
                        group.counts.insert(t, *v);
                    }
                    _ => {
                        group.sums.insert(t, *v);
                    }
                }
            }
        }
        for (labels, group) in groups {
            if group.buckets.is_empty() {
                continue;
            }
            let stored = self.series.entry(labels).or_default();
            for (t, buckets) in group.buckets {
                let h = nhcb_from_classic(
                    buckets,
                    group.counts.get(&t).copied(),
                    group.sums.get(&t).copied(),
                );
                stored.put_histogram(t, h);
            }
        }
    }
}

impl Queryable for MemoryStore {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SelectedSeries>, QueryError> {
        let mut out = Vec::new();
        if start_ms > end_ms {
            return Ok(out);
        }
        for (labels, stored) in &self.series {
            let matches = matchers
                .iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")));
            if !matches {
                continue;
            }
            let histograms: Vec<HistogramSample> = stored
                .histograms
                .range(start_ms..=end_ms)
                .map(|(&t, _)| HistogramSample {
                    timestamp: t,
                    histogram: stored.histogram_as_read(t),
                })
                .collect();
            let floats: Vec<Sample> = stored
                .floats
                .range(start_ms..=end_ms)
                .map(|(&t, &v)| Sample::new(t, v))
                .collect();
            if !floats.is_empty() || !histograms.is_empty() {
                let float_start_timestamps =
                    stored.start_times_of(floats.iter().map(|s| s.timestamp));
                let histogram_start_timestamps =
                    stored.start_times_of(histograms.iter().map(|h| h.timestamp));
                out.push(SelectedSeries {
                    labels: labels.clone().into(),
                    floats,
                    float_start_timestamps,
                    histograms,
                    histogram_start_timestamps,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{parse_script, Command};
    use tidemark_model::MatchOp;

    fn store_from(script: &str) -> MemoryStore {
        let mut store = MemoryStore::default();
        for cmd in parse_script(script).unwrap() {
            match cmd {
                Command::Load(l) => store.load(&l),
                Command::Clear => store.clear(),
                Command::Eval(_) => {}
            }
        }
        store
    }

    #[test]
    fn loads_are_additive_and_lines_replace_within_a_block() {
        let store = store_from(
            "load 1m\n  m{a=\"1\"} 1 2\n  m{a=\"1\"} 5 _ 7\n\nload 1m\n  m{a=\"2\"} 9\n",
        );
        let all = store
            .select(&[Matcher::equal("__name__", "m")], 0, 600_000)
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].floats,
            vec![Sample::new(0, 5.0), Sample::new(120_000, 7.0)]
        );
        let sel = store
            .select(&[Matcher::new(MatchOp::Regex, "a", "2").unwrap()], 0, 0)
            .unwrap();
        assert_eq!(sel.len(), 1);
        assert!(store
            .select(&[Matcher::equal("a", "1")], 1, 119_999)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn mixed_series_return_floats_and_histograms_apart() {
        let store = store_from("load 1m\n  h {{count:1}} 2\n  f 1 1\n");
        let got = store
            .select(&[Matcher::equal("__name__", "f")], 0, 60_000)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].histograms.is_empty());
        let got = store
            .select(&[Matcher::equal("__name__", "h")], 0, 60_000)
            .unwrap();
        assert_eq!(got[0].floats, vec![Sample::new(60_000, 2.0)]);
        assert_eq!(got[0].histograms.len(), 1);
        assert_eq!(got[0].histograms[0].timestamp, 0);
    }

    #[test]
    fn nhcb_synthesises_custom_bucket_series() {
        let store = store_from(
            "load_with_nhcb 1m\n  x_bucket{le=\"1\"} 1\n  x_bucket{le=\"+Inf\"} 3\n  x_bucket{le=\"bad\"} 9\n  x_count 3\n  x_sum 2\n",
        );
        let got = store
            .select(&[Matcher::equal("__name__", "x")], 0, 0)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].floats.is_empty());
        assert_eq!(got[0].histograms.len(), 1);
        let h = &store.series[&Labels::from_pairs([("__name__", "x")])].histograms[&0].h;
        assert_eq!((h.schema, h.count, h.sum), (-53, 3.0, 2.0));
        assert_eq!(h.custom_values, vec![1.0]);
        assert_eq!(h.positive_buckets, vec![1.0, 2.0]);
    }

    #[test]
    fn st_lines_give_start_timestamps_parallel_to_samples() {
        let store = store_from(
            "load 1m
  m{a=\"st\"}@st _ -30s _ 1ms
  m{a=\"st\"} 1 2 3 4
  m{a=\"none\"} 1 2
  h@st -1m
  h {{count:1}}
",
        );
        let got = store
            .select(&[Matcher::equal("__name__", "m")], 0, 600_000)
            .unwrap();
        let (none, st) = (&got[0], &got[1]);
        assert_eq!(none.labels.get("a"), Some("none"));
        assert!(none.float_start_timestamps.is_empty());
        // Gaps in the `@st` line are unknown (0); offsets count from each sample.
        assert_eq!(st.float_start_timestamps, vec![0, 30_000, 0, 180_001]);
        // A window holding only samples without start timestamps reports none.
        let first = store.select(&[Matcher::equal("a", "st")], 0, 0).unwrap();
        assert!(first[0].float_start_timestamps.is_empty());
        let h = store
            .select(&[Matcher::equal("__name__", "h")], 0, 0)
            .unwrap();
        assert_eq!(h[0].histogram_start_timestamps, vec![-60_000]);
    }

    #[test]
    fn a_later_line_without_st_drops_the_earlier_start_timestamps() {
        let store = store_from(
            "load 1m
  m@st -1s
  m 1
  m 2
",
        );
        let got = store
            .select(&[Matcher::equal("__name__", "m")], 0, 0)
            .unwrap();
        assert_eq!(got[0].floats, vec![Sample::new(0, 2.0)]);
        assert!(got[0].float_start_timestamps.is_empty());
    }
}
