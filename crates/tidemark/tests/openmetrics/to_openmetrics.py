"""Re-encodes a Prometheus text exposition (stdin) as OpenMetrics 1.0 (stdout) with the
official Python client (Debian's python3-prometheus-client), then appends families
that only OpenMetrics has: counters with `_created` and exemplars, info, stateset,
units and a histogram with an exemplar. Used by openmetrics_import.rs as an
independent OpenMetrics encoder."""

import sys

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families


class Replay:
    """Yields the families parsed from the text exposition, unchanged."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


registry = CollectorRegistry()
registry.register(Replay(list(text_string_to_metric_families(sys.stdin.read()))))

jobs = Counter("om_jobs", "Jobs done.", ["queue"], registry=registry)
jobs.labels("a").inc(3)
jobs.labels("b").inc(1.5, exemplar={"trace_id": "abc123"})
Info("om_build", "Build.", registry=registry).info({"version": "1.0", "rev": 'x"y'})
Enum("om_state", "State.", states=["running", "stopped"], registry=registry).state("running")
Gauge("om_temp", "Temperature.", unit="celsius", registry=registry).set(21.5)
latency = Histogram("om_lat", "Latency.", unit="seconds", buckets=[0.1, 1], registry=registry)
latency.observe(0.05, {"trace_id": "t1"})
latency.observe(0.5)

sys.stdout.write(generate_latest(registry).decode())
