//! The server's self-metrics, exposed on `/metrics` together with the storage engine's.
//!
//! Built on `prometheus-client` so that label escaping and histogram encoding are not
//! ours to get wrong. Label values are bounded: HTTP paths are route templates, protocols
//! and reasons are fixed words.

use std::fmt::Write as _;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    path: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    handler: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlacementLabels {
    placement: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

fn query_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric the server itself maintains.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    ingest_requests: Family<ProtocolLabels, Counter>,
    ingested_samples: Family<ProtocolLabels, Counter>,
    storage_rejected_samples: Family<ProtocolLabels, Counter>,
    rejected_requests: Family<RejectionLabels, Counter>,
    query_duration: Family<QueryLabels, Histogram, fn() -> Histogram>,
    queries_in_flight: Gauge,
    queries_canceled: Counter,
    query_placements: Family<PlacementLabels, Counter>,
    inserts_in_flight: Gauge,
    insert_inflight_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tidemark");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template and status code",
            http_requests.clone(),
        );
        let ingest_requests = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "ingest_requests",
            "Accepted ingestion requests by protocol",
            ingest_requests.clone(),
        );
        let ingested_samples = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "ingested_samples",
            "Samples stored by protocol",
            ingested_samples.clone(),
        );
        let storage_rejected_samples = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "storage_rejected_samples",
            "Samples the storage refused (outside retention, invalid) by protocol",
            storage_rejected_samples.clone(),
        );
        let rejected_requests = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "rejected_requests",
            "Requests refused by handler and reason (bad_data, unsupported_media_type, too_large, overloaded, ...)",
            rejected_requests.clone(),
        );
        let query_duration: Family<QueryLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(query_histogram);
        registry.register(
            "query_duration_seconds",
            "PromQL evaluation time by kind (instant, range)",
            query_duration.clone(),
        );
        let queries_in_flight = Gauge::default();
        registry.register(
            "queries_in_flight",
            "Queries being evaluated now",
            queries_in_flight.clone(),
        );
        let queries_canceled = Counter::default();
        registry.register(
            "queries_canceled",
            "Evaluations stopped early because the client disconnected",
            queries_canceled.clone(),
        );
        let query_placements = Family::<PlacementLabels, Counter>::default();
        registry.register(
            "query_evaluations",
            "Evaluations by where they ran: inline on the request's thread (the same query was cheap last time) or on the compute pool",
            query_placements.clone(),
        );
        let inserts_in_flight = Gauge::default();
        registry.register(
            "inserts_in_flight",
            "Ingestion requests being processed now",
            inserts_in_flight.clone(),
        );
        let insert_inflight_bytes = Gauge::default();
        registry.register(
            "insert_inflight_bytes",
            "Request bytes reserved by ingestion now (see --insert.max-inflight-bytes)",
            insert_inflight_bytes.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels carry the build",
            build_info,
        );
        Metrics {
            registry,
            http_requests,
            ingest_requests,
            ingested_samples,
            storage_rejected_samples,
            rejected_requests,
            query_duration,
            queries_in_flight,
            queries_canceled,
            query_placements,
            inserts_in_flight,
            insert_inflight_bytes,
        }
    }

    pub fn http_request(&self, path: &str, code: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                path: path.to_string(),
                code,
            })
            .inc();
    }

    pub fn ingested(&self, protocol: &'static str, samples: u64, storage_rejected: u64) {
        let l = ProtocolLabels { protocol };
        self.ingest_requests.get_or_create(&l).inc();
        self.ingested_samples.get_or_create(&l).inc_by(samples);
        if storage_rejected > 0 {
            self.storage_rejected_samples
                .get_or_create(&l)
                .inc_by(storage_rejected);
        }
    }

    pub fn rejected(&self, handler: &'static str, reason: &'static str) {
        self.rejected_requests
            .get_or_create(&RejectionLabels { handler, reason })
            .inc();
    }

    pub fn observe_query(&self, kind: &'static str, seconds: f64) {
        self.query_duration
            .get_or_create(&QueryLabels { kind })
            .observe(seconds);
    }

    pub fn queries_in_flight(&self) -> &Gauge {
        &self.queries_in_flight
    }

    /// Counts an evaluation that stopped because its client went away.
    pub fn query_canceled(&self) {
        self.queries_canceled.inc();
    }

    /// Counts an evaluation run `placement` (`inline` or `pool`).
    pub fn query_placed(&self, placement: &'static str) {
        self.query_placements
            .get_or_create(&PlacementLabels { placement })
            .inc();
    }

    pub fn inserts_in_flight(&self) -> &Gauge {
        &self.inserts_in_flight
    }

    /// Updates the in-flight bytes gauge; called just before rendering.
    pub fn set_insert_inflight_bytes(&self, bytes: usize) {
        self.insert_inflight_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Renders the server metrics in the Prometheus text format (0.0.4), without the
    /// OpenMetrics `# EOF` terminator so that the storage engine's lines can follow.
    pub fn render(&self, out: &mut String) {
        if prometheus_client::encoding::text::encode_registry(out, &self.registry).is_err() {
            let _ = writeln!(out, "# failed to encode server metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::new();
        m.rejected("remote_write", "bad_data");
        m.rejected("remote_write", "bad_data");
        m.http_request("/api/v1/write", 204);
        m.observe_query("instant", 0.01);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(
                r#"tidemark_rejected_requests_total{handler="remote_write",reason="bad_data"} 2"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"tidemark_http_requests_total{path="/api/v1/write",code="204"} 1"#),
            "{out}"
        );
        assert!(
            out.contains("tidemark_query_duration_seconds_count{kind=\"instant\"} 1"),
            "{out}"
        );
        assert!(!out.contains("# EOF"));
    }
}
