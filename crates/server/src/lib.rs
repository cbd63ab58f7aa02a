//! The Tidemark server: the Prometheus-compatible HTTP API, every ingestion protocol,
//! self-metrics and the process lifecycle, on axum and tokio.
//!
//! The binary builds a [`ServerConfig`] from flags and calls [`run`]; tests and
//! embedders can call [`serve`] with their own listener and shutdown future.

mod admission;
pub mod api;
pub mod config;
pub mod duration;
mod engine;
pub mod ingest;
mod lifecycle;
mod metadata_store;
pub mod metrics;
mod opentsdb_telnet;
mod queryable;
mod router;
mod state;

pub use config::{
    default_max_concurrent_inserts, default_max_inflight_bytes, BasicAuth, IngestLimits,
    QueryLimits, ServerConfig,
};
pub use duration::parse_duration;
pub use lifecycle::{run, serve, shutdown_signal};
pub use tidemark_storage::FsyncPolicy;
