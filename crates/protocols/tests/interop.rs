//! Interoperability with the real peers installed by `scripts/install-deps`:
//! Prometheus 2.42 as a remote-write sender, VictoriaMetrics 1.79 as a remote-write
//! receiver and JSON-lines exporter. Each test skips with a message when its binary is
//! missing, and fails instead when the `CI` environment variable is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidemark_model::{is_stale_nan, Labels, Sample, TimeSeries, STALE_NAN};
use tidemark_protocols::remote_write::{self, RemoteWriteVersion};
use tidemark_protocols::{jsonline, text};

/// Kills the peer process when the test ends, however it ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary_available(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required in CI (scripts/install-deps installs it)"
        );
        eprintln!("skipping: {name} is not installed");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request read off a keep-alive connection.
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?
        .1
        .parse()
        .ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { headers, body })
}

#[test]
fn prometheus_remote_write_v1_requests_decode() {
    if !binary_available("prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let receiver = listener.local_addr().unwrap();
    let web_port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{web_port}']\n\
         remote_write:\n  - url: http://{receiver}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prometheus = Peer(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    listener.set_nonblocking(true).unwrap();
    let mut found_up = false;
    while !found_up && Instant::now() < deadline {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        while let Some(req) = read_request(&mut reader) {
            assert_eq!(req.header("Content-Encoding"), Some("snappy"));
            assert_eq!(
                req.header("X-Prometheus-Remote-Write-Version"),
                Some("0.1.0")
            );
            assert_eq!(
                remote_write::negotiate(req.header("Content-Type")).unwrap(),
                RemoteWriteVersion::V1
            );
            let decoded =
                remote_write::decode_v1(&req.body, 32 << 20).expect("Prometheus' request decodes");
            for s in &decoded.series {
                assert!(s.labels.get("job").is_some() || s.labels.metric_name().is_some());
                if s.labels.metric_name() == Some("up") {
                    assert_eq!(s.labels.get("job"), Some("self"));
                    assert_eq!(s.samples[0].value, 1.0);
                    found_up = true;
                }
            }
            writer
                .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            if found_up {
                break;
            }
        }
    }
    assert!(
        found_up,
        "no remote-write request carrying `up` arrived within 60 s"
    );
}

fn http(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response head");
    let status: u16 = String::from_utf8_lossy(&resp[9..12]).parse().unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).to_ascii_lowercase();
    let mut body = resp[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

#[test]
fn victoria_metrics_reads_our_remote_write_and_exports_what_we_parse() {
    if !binary_available("victoria-metrics") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _vm = Peer(
        Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.path().display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let t0 = 1_700_000_000_000;
    let sent = vec![
        TimeSeries::new(
            Labels::from_pairs([
                ("__name__", "tm_interop_a"),
                ("job", "j\"1"),
                ("path", "é/x"),
            ]),
            vec![
                Sample::new(t0, 1.5),
                Sample::new(t0 + 15_000, STALE_NAN),
                Sample::new(t0 + 30_000, -42.0),
            ],
        ),
        TimeSeries::new(
            Labels::from_pairs([("__name__", "tm_interop_b")]),
            vec![Sample::new(t0, f64::INFINITY), Sample::new(t0 + 1, 0.25)],
        ),
    ];
    let body = remote_write::encode_v1(&sent);
    let (status, resp) = http(
        "POST",
        port,
        "/api/v1/write",
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
        ],
        &body,
    );
    assert!(
        status == 204 || status == 200,
        "write answered {status}: {}",
        String::from_utf8_lossy(&resp)
    );
    http("GET", port, "/internal/force_flush", &[], b"");

    let (status, export) = http(
        "GET",
        port,
        "/api/v1/export?match%5B%5D=%7B__name__%3D~%22tm_interop_.*%22%7D&start=0",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let mut got = jsonline::parse(&export)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&export)));
    got.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(got, sent, "{}", String::from_utf8_lossy(&export));
    assert!(
        is_stale_nan(got[0].samples[1].value),
        "VictoriaMetrics exports the stale marker as null"
    );

    // The same data as Prometheus text through VictoriaMetrics' text importer.
    let exposition = text::encode(
        &[TimeSeries::new(
            Labels::from_pairs([("__name__", "tm_interop_c"), ("k", "v")]),
            vec![Sample::new(t0, 7.0)],
        )],
        &[],
    );
    let (status, _) = http(
        "POST",
        port,
        "/api/v1/import/prometheus",
        &[],
        exposition.as_bytes(),
    );
    assert!(status == 204 || status == 200);
    http("GET", port, "/internal/force_flush", &[], b"");
    let (_, export) = http(
        "GET",
        port,
        "/api/v1/export?match%5B%5D=tm_interop_c&start=0",
        &[],
        b"",
    );
    let got = jsonline::parse(&export).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![Sample::new(t0, 7.0)]);
}
