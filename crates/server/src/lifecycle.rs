//! Start-up and graceful shutdown.
//!
//! Start: bind the listener first (a busy port fails fast), serve `/health` at once and
//! open storage on the blocking pool; `/ready` turns 200 when it is open.
//! Shutdown (SIGTERM/SIGINT): readiness 503 at once → wait `--http.shutdown-delay` so
//! load balancers stop sending → stop accepting → let in-flight requests finish up to
//! `--http.shutdown-timeout` → save metadata → `storage.close()`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tidemark_storage::{Storage, StorageOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::router::router;
use crate::state::{AppState, SharedState};

/// How often changed metric metadata is written to the data directory.
const METADATA_SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Binds the configured address and serves until SIGTERM or SIGINT.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.http_listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (--http-listen-addr)",
                config.http_listen_addr
            )
        })?;
    serve(config, listener, shutdown_signal()).await
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received SIGINT"),
        _ = term => tracing::info!("received SIGTERM"),
    }
}

fn storage_options(config: &ServerConfig) -> StorageOptions {
    StorageOptions {
        path: config.storage_path.clone(),
        retention: config.retention,
        dedup_interval: config.dedup_interval,
        fsync: config.fsync,
        memory_budget_bytes: config.memory_budget_bytes,
        max_series_per_select: config.query.max_series,
        ..StorageOptions::default()
    }
}

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully.
/// Returns an error when storage cannot be opened or closed cleanly.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.storage_path).with_context(|| {
        format!(
            "cannot create data directory {}",
            config.storage_path.display()
        )
    })?;
    let opts = storage_options(&config);
    let shutdown_delay = config.shutdown_delay;
    let shutdown_timeout = config.shutdown_timeout;
    let opentsdb_addr = config.opentsdb_listen_addr;
    let st: SharedState = Arc::new(AppState::new(config));
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening for HTTP");

    let (stop_tx, stop_rx) = watch::channel(false);
    let telnet = match opentsdb_addr {
        Some(addr) => Some(crate::opentsdb_telnet::start(addr, st.clone(), stop_rx.clone()).await?),
        None => None,
    };

    let open_started = Instant::now();
    let mut open_task = tokio::task::spawn_blocking(move || Storage::open(opts));
    let app = router(st.clone());
    let mut http_stop = stop_rx.clone();
    // Responses are written whole; Nagle's algorithm would only hold back the tail
    // of a large one until the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        stopped(&mut http_stop).await;
    });
    let mut server_task = tokio::spawn(async move { server.await });
    let saver = tokio::spawn(save_metadata_periodically(st.clone(), stop_rx.clone()));

    tokio::pin!(shutdown);
    let mut open_error = None;
    let mut opened = false;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            joined = &mut open_task, if !opened => {
                opened = true;
                match joined {
                    Ok(Ok(storage)) => {
                        tracing::info!(elapsed_ms = open_started.elapsed().as_millis() as u64, "storage opened; ready");
                        st.set_storage(Arc::new(storage));
                    }
                    Ok(Err(e)) => { open_error = Some(anyhow::anyhow!("cannot open storage: {e}")); break; }
                    Err(e) => { open_error = Some(anyhow::anyhow!("storage open task failed: {e}")); break; }
                }
            }
            result = &mut server_task => {
                return match result {
                    Ok(Ok(())) => Err(anyhow::anyhow!("HTTP server stopped unexpectedly")),
                    Ok(Err(e)) => Err(anyhow::anyhow!("HTTP server failed: {e}")),
                    Err(e) => Err(anyhow::anyhow!("HTTP server task failed: {e}")),
                };
            }
        }
    }

    st.begin_shutdown();
    if open_error.is_none() && !shutdown_delay.is_zero() {
        tracing::info!(delay = ?shutdown_delay, "readiness is 503; waiting before closing the listener");
        tokio::time::sleep(shutdown_delay).await;
    }
    tracing::info!("closing the listener and draining in-flight requests");
    let deadline = Instant::now() + shutdown_timeout;
    let _ = stop_tx.send(true);
    match tokio::time::timeout(shutdown_timeout, &mut server_task).await {
        Ok(_) => tracing::info!("in-flight requests finished"),
        Err(_) => {
            tracing::warn!(timeout = ?shutdown_timeout, "in-flight requests did not finish in time; closing anyway");
            server_task.abort();
        }
    }
    if let Some(t) = telnet {
        let _ = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), t).await;
    }
    st.wait_for_inserts(deadline.saturating_duration_since(Instant::now()))
        .await;
    let _ = saver.await;
    if let Err(e) = st.metadata.save_if_dirty() {
        tracing::warn!(error = %e, "cannot save metric metadata");
    }
    if let Some(e) = open_error {
        return Err(e);
    }
    let storage = match st.storage_if_open() {
        Some(s) => s,
        None => match open_task.await {
            // Shutdown arrived while storage was still opening: wait, then close it properly.
            Ok(Ok(s)) => Arc::new(s),
            Ok(Err(e)) => return Err(anyhow::anyhow!("cannot open storage: {e}")),
            Err(e) => return Err(anyhow::anyhow!("storage open task failed: {e}")),
        },
    };
    tokio::task::spawn_blocking(move || storage.close())
        .await
        .context("storage close task failed")?
        .context("cannot close storage cleanly")?;
    tracing::info!("storage closed; bye");
    Ok(())
}

/// Resolves once the stop flag is set (or its sender is gone); holds no borrow across awaits.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn save_metadata_periodically(st: SharedState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(METADATA_SAVE_INTERVAL);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::lifecycle::stopped(&mut stop) => return,
        }
        let task_state = st.clone();
        let saved = tokio::task::spawn_blocking(move || task_state.metadata.save_if_dirty()).await;
        if let Ok(Err(e)) = saved {
            tracing::warn!(error = %e, "cannot save metric metadata");
        }
    }
}
