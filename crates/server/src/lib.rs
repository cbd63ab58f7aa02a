//! The Tidemark server: HTTP API, ingestion and lifecycle.
