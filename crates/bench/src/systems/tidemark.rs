//! Tidemark, the `tidemark` binary built from this repository.

use anyhow::{Context, Result};
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{DiskUsage, Server, System};
use crate::measure::dir_bytes;

pub struct Tidemark {
    pub binary: PathBuf,
}

impl System for Tidemark {
    fn name(&self) -> &'static str {
        "Tidemark"
    }

    fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self, data_dir: &Path, port: u16, _scratch: &Path) -> Result<Command> {
        let mut c = Command::new(&self.binary);
        c.arg("--storage-path")
            .arg(data_dir)
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{port}"))
            // Limits sized for the large preset, as for the peers.
            .arg("--search.max-series=100000000")
            .arg("--search.max-samples=2000000000")
            .arg("--search.timeout=10m");
        Ok(c)
    }

    fn ready_path(&self) -> &'static str {
        "/ready"
    }

    fn flush_and_merge(&self, server: &Server) -> Result<String> {
        // Both endpoints are synchronous: they return once the work is done.
        server
            .call(Method::POST, "/internal/force_flush")
            .context("force_flush")?;
        server
            .call(Method::POST, "/internal/force_merge")
            .context("force_merge")?;
        Ok("/internal/force_flush, then /internal/force_merge (both synchronous)".into())
    }

    fn disk_usage(&self, server: &Server) -> Result<DiskUsage> {
        // Same split as VictoriaMetrics: parts under data/ (blocks plus their block
        // indexes) vs the series registry under index/ (docs/storage-format.md).
        Ok(DiskUsage {
            data: dir_bytes(&server.data_dir.join("data"))?,
            index: Some(dir_bytes(&server.data_dir.join("index"))?),
            note: "data/ (parts) vs index/ (series registry) after force_merge; wal/ not counted"
                .into(),
        })
    }
}
