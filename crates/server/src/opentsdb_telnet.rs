//! OpenTSDB telnet `put` listener (`--opentsdb-listen-addr`, off by default).
//!
//! Each connection is read and decoded line by line; decoded lines are appended in
//! batches (up to [`BATCH_LINES`] lines, or whatever arrived when the socket goes
//! quiet), so a chatty collector does not cause one storage append per sample. A bad
//! line is answered with an error line, as OpenTSDB does, and counted as a rejection;
//! the good lines around it are still stored.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tidemark_model::{Tenant, TimeSeries};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::SharedState;

const PROTOCOL: &str = "opentsdb_telnet";
const BATCH_LINES: usize = 1000;
/// Longest accepted line; longer ones are refused rather than buffered without bound.
const MAX_LINE_BYTES: usize = 64 * 1024;
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// Binds `addr` and serves until `stop` turns true; the handle ends when all
/// connections have flushed their last batch.
pub async fn start(
    addr: SocketAddr,
    st: SharedState,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--opentsdb-listen-addr)"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening for OpenTSDB telnet put");
    Ok(tokio::spawn(accept_loop(listener, st, stop)))
}

async fn accept_loop(listener: TcpListener, st: SharedState, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            _ = crate::lifecycle::stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    conns.spawn(handle_conn(sock, peer, st.clone(), conn_stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "OpenTSDB telnet accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn handle_conn(
    sock: TcpStream,
    peer: SocketAddr,
    st: SharedState,
    mut stop: watch::Receiver<bool>,
) {
    let (rd, mut wr) = sock.into_split();
    let mut reader = BufReader::new(rd);
    let mut batch: Vec<TimeSeries> = Vec::new();
    // `read_until` keeps partial input across the idle timeout (it is cancel-safe).
    let mut line: Vec<u8> = Vec::new();
    loop {
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len()) as u64;
        let mut limited = (&mut reader).take(room);
        let read = tokio::select! {
            _ = crate::lifecycle::stopped(&mut stop) => break,
            r = tokio::time::timeout(IDLE_FLUSH, limited.read_until(b'\n', &mut line)) => r,
        };
        match read {
            Err(_idle) => {
                if !batch.is_empty() {
                    flush(&st, &mut batch, &mut wr).await;
                }
                continue;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "OpenTSDB telnet read failed");
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => {}
        }
        if line.len() > MAX_LINE_BYTES {
            st.metrics.rejected(PROTOCOL, "too_large");
            let _ = wr
                .write_all(format!("put: line longer than {MAX_LINE_BYTES} bytes\n").as_bytes())
                .await;
            break;
        }
        if !line.ends_with(b"\n") {
            continue;
        }
        match std::str::from_utf8(&line).map(str::trim) {
            Err(_) => {
                st.metrics.rejected(PROTOCOL, "invalid_utf8");
                let _ = wr.write_all(b"put: line is not valid UTF-8\n").await;
            }
            Ok("") => {}
            Ok("version") => {
                let _ = wr
                    .write_all(concat!("tidemark ", env!("CARGO_PKG_VERSION"), "\n").as_bytes())
                    .await;
            }
            Ok(text) => match tidemark_protocols::opentsdb::parse_telnet_line(text) {
                Ok(series) => batch.push(series),
                Err(e) => {
                    st.metrics.rejected(PROTOCOL, e.reason());
                    let _ = wr.write_all(format!("put: {e}\n").as_bytes()).await;
                }
            },
        }
        line.clear();
        if batch.len() >= BATCH_LINES {
            flush(&st, &mut batch, &mut wr).await;
        }
    }
    if !batch.is_empty() {
        flush(&st, &mut batch, &mut wr).await;
    }
}

async fn flush(
    st: &SharedState,
    batch: &mut Vec<TimeSeries>,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
) {
    let series = std::mem::take(batch);
    if let Err(message) = store(st, series).await {
        let _ = wr.write_all(format!("put: {message}\n").as_bytes()).await;
    }
}

async fn store(st: &SharedState, series: Vec<TimeSeries>) -> Result<(), String> {
    let storage = st.storage().map_err(|e| e.message)?;
    // Telnet lines are decoded as they arrive; the batch is already in memory here.
    let admission = st.admission.admit(0).await.map_err(|e| {
        st.metrics.rejected(PROTOCOL, e.reason());
        e.message
    })?;
    let task_state = st.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let _admission = admission;
        let stats = storage.append(Tenant::DEFAULT, &series).map_err(|e| {
            task_state.metrics.rejected(PROTOCOL, "storage");
            e.to_string()
        })?;
        task_state
            .metrics
            .ingested(PROTOCOL, stats.samples, stats.rejected);
        Ok(())
    })
    .await;
    joined.map_err(|e| format!("ingestion task failed: {e}"))?
}
