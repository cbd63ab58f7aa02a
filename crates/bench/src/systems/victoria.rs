//! VictoriaMetrics single-node (Debian `victoria-metrics`).

use anyhow::{Context, Result};
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{metric_sum, wait_until, DiskUsage, Server, System};
use crate::measure::dir_bytes;

pub struct VictoriaMetrics {
    pub binary: PathBuf,
}

impl System for VictoriaMetrics {
    fn name(&self) -> &'static str {
        "VictoriaMetrics"
    }

    fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self, data_dir: &Path, port: u16, _scratch: &Path) -> Result<Command> {
        let mut c = Command::new(&self.binary);
        c.arg(format!("-storageDataPath={}", data_dir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            // No result cache, so repeated queries measure evaluation like the others.
            .arg("-search.disableCache")
            // Our data is minutes old; do not hide the newest 30 s.
            .arg("-search.latencyOffset=0s")
            // Limits sized for the large preset rather than defaults tuned for shared servers.
            .arg("-search.maxUniqueTimeseries=100000000")
            .arg("-search.maxQueryDuration=10m")
            .arg("-loggerLevel=WARN");
        Ok(c)
    }

    fn ready_path(&self) -> &'static str {
        "/health"
    }

    fn flush_and_merge(&self, server: &Server) -> Result<String> {
        server
            .call(Method::GET, "/internal/force_flush")
            .context("force_flush")?;
        server
            .call(Method::GET, "/internal/force_merge")
            .context("force_merge")?;
        // force_merge returns at once and merges in the background: wait until no
        // merge of any kind is running twice in a row.
        let mut idle_polls = 0;
        wait_until(
            "VictoriaMetrics merges to finish",
            Duration::from_secs(3600),
            || {
                let metrics = server.call(Method::GET, "/metrics")?;
                let active = metric_sum(&metrics, "vm_active_force_merges").unwrap_or(0.0)
                    + metric_sum(&metrics, "vm_active_merges").unwrap_or(0.0);
                idle_polls = if active == 0.0 { idle_polls + 1 } else { 0 };
                Ok(idle_polls >= 2)
            },
        )?;
        Ok("/internal/force_flush, then /internal/force_merge and wait until vm_active_force_merges and vm_active_merges are 0".into())
    }

    fn disk_usage(&self, server: &Server) -> Result<DiskUsage> {
        Ok(DiskUsage {
            data: dir_bytes(&server.data_dir.join("data"))?,
            index: Some(dir_bytes(&server.data_dir.join("indexdb"))?),
            note: "data/ vs indexdb/ after force_merge".into(),
        })
    }

    fn query_args(&self) -> &'static [(&'static str, &'static str)] {
        &[("nocache", "1")]
    }
}
