//! Test harness: runs the real `tidemark` binary on a free loopback port with a
//! temporary data directory, plus helpers for the HTTP API and peer binaries.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use tidemark_model::{Labels, Sample, TimeSeries};

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A running `tidemark` child process, killed on drop.
pub struct Tidemark {
    pub child: Option<Child>,
    pub port: u16,
    pub data: PathBuf,
    pub extra_args: Vec<String>,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Tidemark {
    /// Starts on a fresh data directory and waits for `/ready`.
    pub fn start(extra_args: &[&str]) -> Tidemark {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut t = Tidemark {
            child: None,
            port: 0,
            data,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            log: dir.path().join("tidemark.log"),
            _dir: Some(dir),
        };
        t.spawn();
        t.wait_ready();
        t
    }

    /// Spawns the process on a new free port (without waiting for readiness).
    pub fn spawn(&mut self) {
        self.port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("--storage-path")
            .arg(&self.data)
            .arg("--http-listen-addr")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--log.level", "info"])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tidemark");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_ready(&mut self) {
        let c = client();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "tidemark exited early with {status}; log:\n{}",
                    self.log_text()
                );
            }
            if c.get(self.url("/ready"))
                .send()
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "tidemark not ready within {READY_TIMEOUT:?}; log:\n{}",
            self.log_text()
        );
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tidemark did not exit within {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Graceful stop, then start again on the same data directory.
    pub fn restart(&mut self) {
        self.sigterm();
        let status = self.wait_exit(Duration::from_secs(60));
        assert!(
            status.success(),
            "exit status {status}; log:\n{}",
            self.log_text()
        );
        self.spawn();
        self.wait_ready();
    }

    pub fn get_json(&self, path_and_query: &str) -> Json {
        let resp = client().get(self.url(path_and_query)).send().unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        assert!(
            status.is_success(),
            "GET {path_and_query}: {status}: {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path_and_query}: bad JSON {e}: {text}"))
    }

    /// Instant query result array (`data.result`).
    pub fn query(&self, expr: &str, t_ms: i64) -> Json {
        let url = self.url("/api/v1/query");
        let resp = client()
            .get(url)
            .query(&[
                ("query", expr),
                ("time", &format!("{}", t_ms as f64 / 1000.0)),
            ])
            .send()
            .unwrap();
        let status = resp.status();
        let body: Json = resp.json().unwrap();
        assert_eq!(status.as_u16(), 200, "query {expr}: {body}");
        body["data"]["result"].clone()
    }

    /// Value of a self-metric line (exact series text before the value), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = client()
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    /// Posts a remote write 1.0 body; asserts 204.
    pub fn remote_write(&self, series: &[TimeSeries]) {
        let body = tidemark_protocols::remote_write::encode_v1(series);
        let resp = client()
            .post(self.url("/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .unwrap();
        let status = resp.status();
        assert_eq!(
            status.as_u16(),
            204,
            "remote write: {}",
            resp.text().unwrap_or_default()
        );
    }
}

impl Drop for Tidemark {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A series with samples `(t, v)`.
pub fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::new(
        Labels::from_pairs(pairs.iter().copied()),
        samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    )
}

/// Finds a peer binary on PATH. Under `CI` a missing peer fails the test; otherwise it
/// is skipped with a message.
pub fn peer_binary(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required under CI (scripts/install-deps installs it)");
        }
        eprintln!("SKIPPED: {name} not installed (run scripts/install-deps)");
    }
    found
}

/// Starts Debian's `prometheus` (2.42) on a free loopback port, with its config and
/// data under `dir`, the remote-write receiver on and `extra_args` (for example
/// `--web.enable-admin-api`); waits until it is ready. `None` when it is not
/// installed (see [`peer_binary`]).
pub fn start_prometheus(dir: &Path, extra_args: &[&str]) -> Option<Peer> {
    let binary = peer_binary("prometheus")?;
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .args(extra_args);
    let mut peer = Peer::spawn("prometheus", cmd, port, &dir.join("prometheus.log"));
    peer.wait_http_ok("/-/ready", Duration::from_secs(60));
    Some(peer)
}

/// Posts `series` as a remote write 1.0 body to `base_url` (Tidemark or a peer);
/// asserts success.
pub fn remote_write_to(base_url: &str, series: &[TimeSeries]) {
    let resp = client()
        .post(format!("{base_url}/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(tidemark_protocols::remote_write::encode_v1(series))
        .send()
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "{base_url}: remote write {status}: {}",
        resp.text().unwrap_or_default()
    );
}

/// A peer process killed on drop.
pub struct Peer {
    pub child: Child,
    pub port: u16,
    pub name: &'static str,
}

impl Peer {
    pub fn spawn(name: &'static str, mut cmd: Command, port: u16, log: &Path) -> Peer {
        let log = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Peer { child, port, name }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits until `path` answers 200.
    pub fn wait_http_ok(&mut self, path: &str, timeout: Duration) {
        let c = client();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited early with {status}", self.name);
            }
            if c.get(self.url(path))
                .send()
                .map(|r| r.status().is_success())
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{} did not answer {path} within {timeout:?}", self.name);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `metric` objects of a result array, as sorted label-set strings.
pub fn metric_sets(result: &Json) -> Vec<String> {
    let mut out: Vec<String> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"].to_string())
        .collect();
    out.sort();
    out
}
