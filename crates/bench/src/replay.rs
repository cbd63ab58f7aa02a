//! Sends the pre-encoded requests to a system over loopback.
//!
//! `concurrency` workers take requests in workload order from a shared cursor, so the
//! data arrives roughly in time order (as from a live fleet) while the server sees
//! parallel connections. Every request must be accepted (2xx): a rejected request
//! makes the run fail rather than silently lowering the sample count.

use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::encode::HEADERS;
use crate::workload::Request;

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
    let cursor = AtomicUsize::new(0);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.max(1) {
            scope.spawn(|| loop {
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    return;
                }
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    return;
                };
                if let Err(e) = post(&client, url, &request.body) {
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e.context(format!(
                        "request {i} (round {}, host slot {})",
                        request.round, request.slot
                    )));
                    return;
                }
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
