//! Prometheus (Debian `prometheus`) with its remote-write receiver enabled.
//!
//! Prometheus has no endpoint that compacts the head block on demand. The admin API's
//! snapshot (`skip_head=false`) writes the head out as a regular compacted block, which
//! is exactly what compaction would produce, so disk figures are taken from that
//! snapshot and it is deleted before the restart.

use anyhow::{anyhow, Context, Result};
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{DiskUsage, Server, System};
use crate::measure::dir_bytes;

pub struct Prometheus {
    pub binary: PathBuf,
}

/// No scrape jobs: the server only receives remote writes.
const CONFIG: &str = "global:\n  scrape_interval: 15s\n";

impl System for Prometheus {
    fn name(&self) -> &'static str {
        "Prometheus"
    }

    fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self, data_dir: &Path, port: u16, scratch: &Path) -> Result<Command> {
        let config = scratch.join("prometheus.yml");
        std::fs::write(&config, CONFIG).with_context(|| format!("writing {}", config.display()))?;
        let mut c = Command::new(&self.binary);
        c.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--web.enable-admin-api")
            // Limits sized for the large preset rather than the defaults.
            .arg("--query.max-samples=2000000000")
            .arg("--query.timeout=10m")
            .arg("--log.level=warn");
        Ok(c)
    }

    fn ready_path(&self) -> &'static str {
        "/-/ready"
    }

    fn flush_and_merge(&self, server: &Server) -> Result<String> {
        let reply = server
            .call(Method::POST, "/api/v1/admin/tsdb/snapshot?skip_head=false")
            .context("TSDB snapshot")?;
        snapshot_name(&reply)?;
        Ok("no flush/compaction endpoint exists; POST /api/v1/admin/tsdb/snapshot?skip_head=false writes the head as a compacted block, measured and then deleted".into())
    }

    fn disk_usage(&self, server: &Server) -> Result<DiskUsage> {
        let snapshots = server.data_dir.join("snapshots");
        let mut usage = DiskUsage {
            data: 0,
            index: Some(0),
            note: "compacted snapshot blocks: chunks/ vs index".into(),
        };
        for snapshot in std::fs::read_dir(&snapshots)
            .with_context(|| format!("listing {}", snapshots.display()))?
        {
            for block in std::fs::read_dir(snapshot?.path())? {
                let block = block?.path();
                usage.data += dir_bytes(&block.join("chunks"))?;
                *usage.index.get_or_insert(0) += dir_bytes(&block.join("index"))?;
            }
        }
        Ok(usage)
    }

    fn after_measure(&self, server: &Server) -> Result<()> {
        let snapshots = server.data_dir.join("snapshots");
        if snapshots.exists() {
            std::fs::remove_dir_all(&snapshots)
                .with_context(|| format!("removing {}", snapshots.display()))?;
        }
        Ok(())
    }
}

/// The snapshot directory name from the admin API reply `{"data":{"name":...}}`.
fn snapshot_name(reply: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(reply).context("snapshot reply is not JSON")?;
    v["data"]["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("snapshot reply lacks data.name: {reply}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_reply() {
        assert_eq!(
            super::snapshot_name(r#"{"status":"success","data":{"name":"2026-x"}}"#).unwrap(),
            "2026-x"
        );
        assert!(super::snapshot_name(r#"{"status":"error"}"#).is_err());
    }
}
