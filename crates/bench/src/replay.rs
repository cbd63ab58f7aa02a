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
pub fn replay(url: &str, requests: &[Request], concurrency: usize, timeout: Duration) -> Result<ReplayOutcome> {
    let client = reqwest::blocking::Client::builder().timeout(timeout).build().context("building HTTP client")?;
    let workers = concurrency.max(1);
    // Round each worker is about to send; usize::MAX once it is done.
    let progress: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (client, progress, failed, first_error) = (&client, &progress, &failed, &first_error);
            scope.spawn(move || {
                let mine = requests.iter().enumerate().filter(|(_, r)| r.slot % workers == worker);
                for (i, request) in mine {
                    progress[worker].store(request.round, Ordering::Release);
                    while request.round > slowest(progress).saturating_add(MAX_LEAD_ROUNDS) && !failed.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    if failed.load(Ordering::Acquire) {
                        break;
                    }
                    if let Err(e) = post(client, url, &request.body) {
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e.context(format!("request {i} (round {}, host slot {})", request.round, request.slot)));
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
    Ok(ReplayOutcome { samples: requests.iter().map(|r| r.samples as u64).sum(), wall })
}

fn slowest(progress: &[AtomicUsize]) -> usize {
    progress.iter().map(|p| p.load(Ordering::Acquire)).min().unwrap_or(usize::MAX)
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
