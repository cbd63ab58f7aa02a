//! `meta.txt`: a part's metadata as `key=value` lines, closed by a `crc32=` line over
//! the preceding bytes, so it stays readable with `cat` yet is verified on open.

use std::path::Path;

use crate::fsutil::{corrupt, io_err};
use crate::time::Day;
use crate::{StorageError, FORMAT_VERSION, MIN_READABLE_FORMAT_VERSION};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartMeta {
    pub format_version: u32,
    /// Unique, increasing part number; also the directory name (hex).
    pub seq: u64,
    /// 0 for flushed parts; a merge's output is one above its highest input.
    pub level: u32,
    pub day: Day,
    pub min_ts: i64,
    pub max_ts: i64,
    pub samples: u64,
    pub blocks: u64,
    pub series: u64,
    pub max_series_id: u64,
    /// Parts this one was merged from; if a crash left them behind, open deletes them.
    pub replaces: Vec<u64>,
}

impl PartMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let replaces: Vec<String> = self.replaces.iter().map(|s| format!("{s:016x}")).collect();
        let body = format!(
            "format_version={}\nseq={:016x}\nlevel={}\nday={}\nmin_ts={}\nmax_ts={}\nsamples={}\nblocks={}\nseries={}\nmax_series_id={}\nreplaces={}\n",
            self.format_version,
            self.seq,
            self.level,
            self.day,
            self.min_ts,
            self.max_ts,
            self.samples,
            self.blocks,
            self.series,
            self.max_series_id,
            replaces.join(","),
        );
        let mut out = body.into_bytes();
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(format!("crc32={crc:08x}\n").as_bytes());
        out
    }

    pub(crate) fn read(path: &Path) -> Result<PartMeta, StorageError> {
        let data = std::fs::read(path).map_err(io_err(path))?;
        let text = std::str::from_utf8(&data)
            .map_err(|e| corrupt(path, e.valid_up_to() as u64, "not UTF-8"))?;
        let body_end = text
            .rfind("crc32=")
            .ok_or_else(|| corrupt(path, 0, "missing crc32 line"))?;
        let stored = text[body_end + 6..].trim_end();
        let stored = u32::from_str_radix(stored, 16)
            .map_err(|_| corrupt(path, body_end as u64, "bad crc32 line"))?;
        if crc32fast::hash(&data[..body_end]) != stored {
            return Err(corrupt(path, body_end as u64, "checksum mismatch"));
        }
        let mut meta = PartMeta {
            format_version: 0,
            seq: 0,
            level: 0,
            day: 0,
            min_ts: 0,
            max_ts: 0,
            samples: 0,
            blocks: 0,
            series: 0,
            max_series_id: 0,
            replaces: Vec::new(),
        };
        let mut offset = 0u64;
        for line in text[..body_end].lines() {
            let bad = |what: &str| corrupt(path, offset, format!("bad {what} line"));
            let (key, value) = line.split_once('=').ok_or_else(|| bad("key=value"))?;
            let dec = |v: &str| v.parse::<i64>().map_err(|_| bad(key));
            let hex = |v: &str| u64::from_str_radix(v, 16).map_err(|_| bad(key));
            match key {
                "format_version" => meta.format_version = dec(value)? as u32,
                "seq" => meta.seq = hex(value)?,
                "level" => meta.level = dec(value)? as u32,
                "day" => meta.day = dec(value)?,
                "min_ts" => meta.min_ts = dec(value)?,
                "max_ts" => meta.max_ts = dec(value)?,
                "samples" => meta.samples = dec(value)? as u64,
                "blocks" => meta.blocks = dec(value)? as u64,
                "series" => meta.series = dec(value)? as u64,
                "max_series_id" => meta.max_series_id = dec(value)? as u64,
                "replaces" => {
                    meta.replaces = value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(hex)
                        .collect::<Result<_, _>>()?
                }
                // Unknown keys are ignored so later versions can add fields compatibly.
                _ => {}
            }
            offset += line.len() as u64 + 1;
        }
        if !(MIN_READABLE_FORMAT_VERSION..=FORMAT_VERSION).contains(&meta.format_version) {
            return Err(StorageError::Invalid(format!(
                "{}: unsupported part format version {}, expected {MIN_READABLE_FORMAT_VERSION} to {FORMAT_VERSION}",
                path.display(),
                meta.format_version
            )));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_detects_edits() {
        let meta = PartMeta {
            format_version: FORMAT_VERSION,
            seq: 0x2a,
            level: 2,
            day: 20_000,
            min_ts: -5,
            max_ts: 99,
            samples: 10,
            blocks: 2,
            series: 1,
            max_series_id: 77,
            replaces: vec![1, 0x1f],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.txt");
        std::fs::write(&path, meta.encode()).unwrap();
        assert_eq!(PartMeta::read(&path).unwrap(), meta);
        let edited = String::from_utf8(meta.encode())
            .unwrap()
            .replace("level=2", "level=3");
        std::fs::write(&path, edited).unwrap();
        assert!(matches!(
            PartMeta::read(&path),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
