//! Process lifecycle: SIGTERM during ingestion (readiness flips to 503 at once,
//! in-flight requests complete, acknowledged data survives a restart, exit code 0),
//! environment overrides, and honest "not implemented" roles.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, free_port, now_ms, series, Tidemark};
use serde_json::Value as Json;

#[test]
fn sigterm_during_ingestion_keeps_acknowledged_data() {
    let mut t = Tidemark::start(&["--http.shutdown-delay", "3s", "--wal.fsync", "every-batch"]);
    let url = t.url("/api/v1/write");
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = now_ms() - 600_000;
    let writer = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
        std::thread::spawn(move || {
            let c = client();
            let started = Instant::now();
            let mut i = 0i64;
            // Bounded: at most 20 s or 100k requests, whichever comes first.
            while !stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(20)
                && i < 100_000
            {
                let ts = base + i;
                let body = tidemark_protocols::remote_write::encode_v1(&[series(
                    &[("__name__", "lc_metric")],
                    &[(ts, i as f64)],
                )]);
                let resp = c
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .body(body)
                    .send();
                if let Ok(r) = resp {
                    if r.status().as_u16() == 204 {
                        acked.lock().unwrap().push(ts);
                    }
                }
                i += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let at_sigterm = acked.lock().unwrap().len();
    t.sigterm();
    // Readiness must turn 503 while the listener still serves (the 3 s shutdown delay).
    let c = client();
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut saw_503 = false;
    while Instant::now() < deadline {
        if let Ok(r) = c.get(t.url("/ready")).send() {
            if r.status().as_u16() == 503 {
                saw_503 = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_503, "readiness did not flip to 503 after SIGTERM");
    let status = t.wait_exit(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        t.log_text()
    );
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > at_sigterm,
        "writes must keep succeeding during --http.shutdown-delay"
    );

    t.spawn();
    t.wait_ready();
    let exported = client()
        .get(t.url("/api/v1/export?match[]=lc_metric"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let line: Json =
        serde_json::from_str(exported.trim()).unwrap_or_else(|e| panic!("{e}: {exported}"));
    let stored: std::collections::HashSet<i64> = line["timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let missing: Vec<&i64> = acked.iter().filter(|ts| !stored.contains(ts)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged samples lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn environment_overrides_flags() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .env("TIDEMARK_STORAGE_PATH", dir.path().join("d"))
        .env("TIDEMARK_HTTP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("TIDEMARK_RETENTION_PERIOD", "1w")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut flags: Option<Json> = None;
    while Instant::now() < deadline && flags.is_none() {
        if let Ok(r) = c
            .get(format!("http://127.0.0.1:{port}/api/v1/status/flags"))
            .send()
        {
            flags = r.json().ok();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let flags = flags.expect("server from env settings never answered");
    assert_eq!(flags["data"]["retention-period"], "1w", "{flags}");
    assert!(dir.path().join("d").exists());
}

#[test]
fn future_roles_say_not_implemented() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .arg("select")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
}

#[test]
fn bad_flags_fail_fast() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["--retention-period", "15x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention-period"));
}

#[test]
fn basic_auth_protects_the_api_but_not_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let secret = secret.display().to_string();
    let t = Tidemark::start(&[
        "--http.auth-username",
        "admin",
        "--http.auth-password-file",
        &secret,
    ]);
    let c = client();
    assert_eq!(
        c.get(t.url("/-/ready")).send().unwrap().status().as_u16(),
        200
    );
    let anonymous = c.get(t.url("/api/v1/labels")).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let wrong = c
        .get(t.url("/api/v1/labels"))
        .basic_auth("admin", Some("s3cret "))
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = c
        .get(t.url("/api/v1/labels"))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(
        ok.status().as_u16(),
        200,
        "the trailing newline of the password file is not part of the password"
    );
}
