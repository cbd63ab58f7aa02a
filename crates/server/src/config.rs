//! Server settings. The binary fills this from flags and environment; tests build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tidemark_storage::FsyncPolicy;

/// Basic-auth credentials protecting every endpoint except health and readiness probes.
#[derive(Clone)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Guard rails for queries; each limit turns into a clear API error instead of an outage.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Series one select may return; 0 = unlimited.
    pub max_series: usize,
    /// Samples one query may load; 0 = unlimited.
    pub max_samples: usize,
    /// Default and maximum query run time (a `timeout` parameter may only shorten it).
    pub timeout: Duration,
    /// Queries evaluated at once; others wait in a bounded queue.
    pub max_concurrent: usize,
    /// How long a query may wait for a slot before it gets 503.
    pub max_queue_duration: Duration,
}

/// Guard rails for ingestion.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Largest request body as sent on the wire (possibly compressed).
    pub max_request_body_bytes: usize,
    /// Largest body after decompression; protects against compression bombs.
    pub max_decompressed_body_bytes: usize,
    /// Ingestion requests processed at once.
    pub max_concurrent_inserts: usize,
    /// How long an ingestion request may wait for a slot before it gets 503.
    pub max_queue_duration: Duration,
    /// Request data (bodies as sent plus decompressed and decoded) held by ingestion at
    /// once; beyond it requests get 503 so that overload cannot exhaust memory.
    pub max_inflight_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub storage_path: PathBuf,
    pub http_listen_addr: SocketAddr,
    /// OpenTSDB telnet `put` listener; off when `None`.
    pub opentsdb_listen_addr: Option<SocketAddr>,
    pub retention: Duration,
    pub dedup_interval: Duration,
    pub fsync: FsyncPolicy,
    pub memory_budget_bytes: u64,
    /// After readiness turns 503 on shutdown, keep serving this long so load balancers notice.
    pub shutdown_delay: Duration,
    /// Deadline for in-flight requests to finish once the listener is closed.
    pub shutdown_timeout: Duration,
    pub query: QueryLimits,
    pub ingest: IngestLimits,
    pub auth: Option<BasicAuth>,
    /// Effective flag values for `/api/v1/status/flags`, secrets already redacted.
    pub flags: Vec<(String, String)>,
}

impl ServerConfig {
    /// Defaults matching the binary's flag defaults, with storage under `storage_path`.
    pub fn with_storage_path(storage_path: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            storage_path: storage_path.into(),
            http_listen_addr: SocketAddr::from(([0, 0, 0, 0], 8428)),
            opentsdb_listen_addr: None,
            retention: Duration::from_secs(31 * 24 * 3600),
            dedup_interval: Duration::ZERO,
            fsync: FsyncPolicy::EveryBatch,
            memory_budget_bytes: 1 << 30,
            shutdown_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            query: QueryLimits {
                max_series: 300_000,
                max_samples: 50_000_000,
                timeout: Duration::from_secs(30),
                max_concurrent: 8,
                max_queue_duration: Duration::from_secs(10),
            },
            ingest: IngestLimits {
                max_request_body_bytes: 32 << 20,
                max_decompressed_body_bytes: 128 << 20,
                max_concurrent_inserts: default_max_concurrent_inserts(),
                max_queue_duration: Duration::from_secs(1),
                max_inflight_bytes: default_max_inflight_bytes(1 << 30),
            },
            auth: None,
            flags: Vec::new(),
        }
    }
}

/// 15% of the memory the process may use, at least 16 MiB: what remains after the
/// storage budget (`--memory.allowed-percent`, 60% by default) leaves room for this
/// and for queries, so a burst of large ingestion bodies is refused with 503 before it
/// can push the process past its limit (e.g. a container's).
pub fn default_max_inflight_bytes(memory_limit_bytes: u64) -> usize {
    let bytes = (memory_limit_bytes / 100 * 15).max(16 << 20);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// Twice the CPU count (as VictoriaMetrics' `-maxConcurrentInserts`): ingestion is CPU
/// bound, so more parallel requests only add memory, not throughput.
pub fn default_max_concurrent_inserts() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 2)
}
