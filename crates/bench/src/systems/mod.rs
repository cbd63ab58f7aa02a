//! The systems under test, behind one small trait, and the process wrapper that runs them.

pub mod prometheus;
pub mod tidemark;
pub mod victoria;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::measure;

/// On-disk footprint after flush and merge, split where the layout allows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    /// Sample data (VictoriaMetrics `data/`, Prometheus block `chunks/`).
    pub data: u64,
    /// Series index (VictoriaMetrics `indexdb/`, Prometheus block `index`), when separable.
    pub index: Option<u64>,
    /// How the figure was obtained, for the report.
    pub note: String,
}

/// One system's command line and endpoints.
pub trait System {
    /// Display name in reports.
    fn name(&self) -> &'static str;
    /// The executable, to check that it exists before a run.
    fn binary(&self) -> &Path;
    /// The command that serves `data_dir` on `127.0.0.1:port`. `scratch` is a directory
    /// outside `data_dir` for config files.
    fn command(&self, data_dir: &Path, port: u16, scratch: &Path) -> Result<Command>;
    /// Path answering 200 once the server serves queries and writes.
    fn ready_path(&self) -> &'static str;
    /// Remote-write endpoint path.
    fn write_path(&self) -> &'static str {
        "/api/v1/write"
    }
    /// Makes everything ingested durable and compacted using the system's own
    /// endpoints; returns what was done, for the report.
    fn flush_and_merge(&self, server: &Server) -> Result<String>;
    /// Disk usage after [`System::flush_and_merge`].
    fn disk_usage(&self, server: &Server) -> Result<DiskUsage>;
    /// Cleans up anything `flush_and_merge` created only for measuring (e.g. snapshots).
    fn after_measure(&self, _server: &Server) -> Result<()> {
        Ok(())
    }
    /// Extra query-string arguments for `query_range` (e.g. cache bypass).
    fn query_args(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base_url: String,
    pub data_dir: PathBuf,
    /// Time from spawn until the ready endpoint answered 200.
    pub startup: Duration,
    log: PathBuf,
    client: reqwest::blocking::Client,
}

impl Server {
    /// Starts `system` on `data_dir` at a free loopback port and waits until ready.
    pub fn start(
        system: &dyn System,
        data_dir: &Path,
        scratch: &Path,
        log: &Path,
        ready_timeout: Duration,
    ) -> Result<Server> {
        if !system.binary().exists() {
            bail!(
                "{} binary not found at {}",
                system.name(),
                system.binary().display()
            );
        }
        let port = free_port()?;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = system.command(data_dir, port, scratch)?;
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", system.binary().display()))?;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        let mut server = Server {
            pid: child.id(),
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            startup: Duration::ZERO,
            log: log.to_path_buf(),
            client,
        };
        let ready_url = server.url(system.ready_path());
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{} exited during startup with {status}; log: {}\n{}",
                    system.name(),
                    log.display(),
                    server.log_tail()
                );
            }
            if probe
                .get(&ready_url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > ready_timeout {
                let tail = server.log_tail();
                let _ = server.kill();
                bail!(
                    "{} not ready after {ready_timeout:?}; log tail:\n{tail}",
                    system.name()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.startup = started.elapsed();
        Ok(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// GET or POST `path`, failing with the response text on a non-2xx status.
    pub fn call(&self, method: reqwest::Method, path: &str) -> Result<String> {
        let url = self.url(path);
        let response = self
            .client
            .request(method.clone(), &url)
            .send()
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            bail!(
                "{method} {url}: HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        Ok(text)
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGTERM, then waits for exit; returns how long shutdown took.
    pub fn stop(mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        measure::terminate(self.pid)?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    eprintln!(
                        "note: server pid {} exited with {status} after SIGTERM",
                        self.pid
                    );
                }
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let _ = self.kill();
                bail!(
                    "server pid {} ignored SIGTERM for {timeout:?}; killed",
                    self.pid
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    /// A server left running by an error path must not outlive the benchmark.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.kill();
        }
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Polls until `done` returns true, or fails after `timeout`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    while !done()? {
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Sum of the samples of `metric` (any labels) in Prometheus text exposition.
pub fn metric_sum(exposition: &str, metric: &str) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = value {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_label_variants_only_of_that_name() {
        let text = "# HELP x\nvm_active_merges{type=\"a\"} 2\nvm_active_merges{type=\"b\"} 1\nvm_active_merges_total 9\n";
        assert_eq!(metric_sum(text, "vm_active_merges"), Some(3.0));
        assert_eq!(metric_sum(text, "vm_missing"), None);
    }
}
