//! Sends the pre-encoded requests to a system over loopback.
//!
//! Like Prometheus' remote-write shards, each of the `concurrency` workers owns a
//! fixed subset of hosts and sends their requests in order, so every series arrives
//! in time order (Prometheus rejects out-of-order samples). Workers stay within
//! [`MAX_LEAD_ROUNDS`] scrape rounds of each other, so the whole fleet advances
//! together as a live one would. Every request must be accepted (2xx): a rejected
//! request fails the run rather than silently lowering the sample count.

use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::encode::HEADERS;
use crate::workload::Request;

/// How many scrape rounds (of 15 s) a worker may run ahead of the slowest one.
const MAX_LEAD_ROUNDS: usize = 8;

/// What one replay achieved.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOutcome {
    /// Samples sent and acknowledged, stale markers included.
    pub samples: u64,
    pub wall: Duration,
}

/// Posts every request to `url` with `concurrency` connections.
pub fn replay(
    url: &str,
    requests: &[Request],
    concurrency: usize,
    timeout: Duration,
) -> Result<ReplayOutcome> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .context("building HTTP client")?;
    let workers = concurrency.max(1);
    // Round each worker is about to send; usize::MAX once it is done.
    let progress: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (client, progress, failed, first_error) =
                (&client, &progress, &failed, &first_error);
            scope.spawn(move || {
                let mine = requests
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.slot % workers == worker);
                for (i, request) in mine {
                    progress[worker].store(request.round, Ordering::Release);
                    while request.round > slowest(progress).saturating_add(MAX_LEAD_ROUNDS)
                        && !failed.load(Ordering::Acquire)
                    {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    if failed.load(Ordering::Acquire) {
                        break;
                    }
                    if let Err(e) = post(client, url, &request.body) {
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e.context(format!(
                            "request {i} (round {}, host slot {})",
                            request.round, request.slot
                        )));
                        failed.store(true, Ordering::Release);
                        break;
                    }
                }
                progress[worker].store(usize::MAX, Ordering::Release);
            });
        }
    });
    let wall = started.elapsed();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(ReplayOutcome {
        samples: requests.iter().map(|r| r.samples as u64).sum(),
        wall,
    })
}

fn slowest(progress: &[AtomicUsize]) -> usize {
    progress
        .iter()
        .map(|p| p.load(Ordering::Acquire))
        .min()
        .unwrap_or(usize::MAX)
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &bytes::Bytes) -> Result<()> {
    let mut request = client.post(url).body(body.clone());
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    let response = request.send().with_context(|| format!("POST {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().unwrap_or_default();
        bail!(
            "POST {url}: HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{generate, Preset};
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    /// Last timestamp seen per series, and whether any series went backwards.
    #[derive(Default)]
    struct Seen {
        last: HashMap<String, i64>,
        backwards: usize,
        samples: usize,
    }

    /// A minimal HTTP/1.1 remote-write receiver that answers `status` and records order.
    fn receiver(status: &'static str) -> (String, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = shared.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((k, v)) = line.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap();
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        let request =
                            tidemark_protocols::remote_write::decode_v1(&body, 64 << 20).unwrap();
                        {
                            let mut seen = seen.lock().unwrap();
                            for ts in &request.series {
                                let key = ts.labels.to_string();
                                let t = ts.samples[0].timestamp;
                                if seen.last.get(&key).is_some_and(|&prev| prev >= t) {
                                    seen.backwards += 1;
                                }
                                seen.last.insert(key, t);
                                seen.samples += 1;
                            }
                        }
                        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if stream.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[test]
    fn concurrent_replay_keeps_every_series_in_order() {
        let workload = generate(&Preset::Smoke.fleet(5), 1_700_000_000_000, 2).unwrap();
        let (url, seen) = receiver("204 No Content");
        let outcome = replay(&url, &workload.requests, 3, Duration::from_secs(30)).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            outcome.samples,
            workload.stats.samples + workload.stats.stale_markers
        );
        assert_eq!(seen.samples as u64, outcome.samples);
        assert_eq!(
            seen.backwards, 0,
            "a series received an older or repeated timestamp"
        );
    }

    #[test]
    fn rejected_request_fails_the_replay() {
        let workload = generate(&Preset::Smoke.fleet(5), 1_700_000_000_000, 2).unwrap();
        let (url, _) = receiver("400 Bad Request");
        let err = replay(&url, &workload.requests, 2, Duration::from_secs(30)).unwrap_err();
        assert!(format!("{err:#}").contains("400"), "{err:#}");
    }
}
