//! Metric metadata (type, help, unit) from remote write and text imports, for
//! `/api/v1/metadata`. Kept in memory and saved to a small JSON file in the data
//! directory, because the storage engine stores samples, not metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tidemark_model::{MetricMetadata, MetricType};

/// Families kept at most; protects memory against a sender inventing names.
const MAX_FAMILIES: usize = 200_000;
/// Distinct entries kept per family (Prometheus keeps one per target; we keep a few variants).
const MAX_ENTRIES_PER_FAMILY: usize = 8;

pub const METADATA_FILE: &str = "metadata.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    metric_type: String,
    help: String,
    unit: String,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    metric: String,
    #[serde(flatten)]
    entry: Entry,
}

pub struct MetadataStore {
    path: PathBuf,
    families: RwLock<BTreeMap<String, Vec<Entry>>>,
    dirty: AtomicBool,
}

impl MetadataStore {
    /// Loads `metadata.json` from `dir` if present; a missing or unreadable file starts empty
    /// (metadata is advisory, and senders resend it).
    pub fn load(dir: &Path) -> MetadataStore {
        let path = dir.join(METADATA_FILE);
        let mut families: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<FileRecord>>(&bytes) {
                Ok(records) => {
                    for r in records {
                        families.entry(r.metric).or_default().push(r.entry);
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable metadata file")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read metadata file")
            }
        }
        MetadataStore {
            path,
            families: RwLock::new(families),
            dirty: AtomicBool::new(false),
        }
    }

    pub fn record(&self, items: &[MetricMetadata]) {
        if items.is_empty() {
            return;
        }
        let mut families = self.families.write();
        for m in items {
            if m.metric_family.is_empty() {
                continue;
            }
            let entry = Entry {
                metric_type: m.metric_type.as_str().to_string(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            };
            if !families.contains_key(&m.metric_family) && families.len() >= MAX_FAMILIES {
                continue;
            }
            let list = families.entry(m.metric_family.clone()).or_default();
            if !list.contains(&entry) {
                if list.len() >= MAX_ENTRIES_PER_FAMILY {
                    list.remove(0);
                }
                list.push(entry);
                self.dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// `/api/v1/metadata` data: `{family: [{type, help, unit}]}`, optionally one family,
    /// at most `limit` families and `limit_per_metric` entries each (0 = unlimited).
    pub fn query(
        &self,
        metric: Option<&str>,
        limit: usize,
        limit_per_metric: usize,
    ) -> serde_json::Value {
        let families = self.families.read();
        let mut out = serde_json::Map::new();
        let iter: Box<dyn Iterator<Item = (&String, &Vec<Entry>)>> = match metric {
            Some(m) => Box::new(families.get_key_value(m).into_iter()),
            None => Box::new(families.iter()),
        };
        for (name, entries) in iter {
            if limit > 0 && out.len() >= limit {
                break;
            }
            let take = if limit_per_metric > 0 {
                limit_per_metric
            } else {
                entries.len()
            };
            let list: Vec<serde_json::Value> = entries
                .iter()
                .take(take)
                .map(|e| serde_json::json!(e))
                .collect();
            out.insert(name.clone(), serde_json::Value::Array(list));
        }
        serde_json::Value::Object(out)
    }

    /// The recorded type of `family`, if any (used to label exports).
    pub fn metric_type(&self, family: &str) -> Option<MetricType> {
        self.families
            .read()
            .get(family)
            .and_then(|l| l.last())
            .map(|e| MetricType::parse(&e.metric_type))
    }

    /// Writes the file atomically (temp file + rename) when something changed.
    pub fn save_if_dirty(&self) -> std::io::Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let records: Vec<FileRecord> = self
            .families
            .read()
            .iter()
            .flat_map(|(name, list)| {
                list.iter().map(|e| FileRecord {
                    metric: name.clone(),
                    entry: e.clone(),
                })
            })
            .collect();
        let bytes = serde_json::to_vec(&records).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, &self.path));
        if result.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(name: &str, t: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_family: name.into(),
            metric_type: t,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn records_dedups_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::load(dir.path());
        store.record(&[
            md("up", MetricType::Gauge, "Up"),
            md("up", MetricType::Gauge, "Up"),
            md("x_total", MetricType::Counter, "X"),
        ]);
        let q = store.query(None, 0, 0);
        assert_eq!(q["up"].as_array().unwrap().len(), 1);
        assert_eq!(q["x_total"][0]["type"], "counter");
        assert_eq!(store.query(Some("up"), 0, 0).as_object().unwrap().len(), 1);
        assert_eq!(store.query(None, 1, 0).as_object().unwrap().len(), 1);
        store.save_if_dirty().unwrap();
        let again = MetadataStore::load(dir.path());
        assert_eq!(again.query(None, 0, 0), q);
        assert_eq!(again.metric_type("x_total"), Some(MetricType::Counter));
    }
}
