"""Prometheus metrics, one registry per app so several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tally.service.admission import Admission

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tally_requests_total",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tally_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.query_time = Histogram(
            "tally_query_seconds",
            "Engine time per query",
            ["dataset"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows_ingested = Counter(
            "tally_rows_ingested_total",
            "Rows stored by ingestion",
            ["dataset"],
            registry=self.registry,
        )

        self.cache_events = Counter(
            "tally_cache_events_total",
            "Result cache hits, misses, stale serves and single-flight joins",
            ["event"],
            registry=self.registry,
        )
        for event in ("hit", "miss", "stale", "join"):
            self.cache_events.labels(event)
        self.cache_up = Gauge(
            "tally_cache_backend_up", "1 when the cache store answers", registry=self.registry
        )

    def watch_admission(self, admission: Admission) -> None:
        """Queue depth and running queries are read at scrape time; refusals are counted."""
        queued = Gauge("tally_queries_queued", "Queries waiting for a slot", registry=self.registry)
        running = Gauge("tally_queries_running", "Queries holding a slot", registry=self.registry)
        refused = Counter(
            "tally_queries_refused_total",
            "Queries refused by admission: tenant (429), overloaded or deadline (503)",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("tenant", "overloaded", "deadline"):
            refused.labels(reason)
        queued.set_function(lambda: admission.queued)
        running.set_function(lambda: admission.running)
        admission.on_refusal.append(lambda reason: refused.labels(reason).inc())

    def count_cache_event(self, event: str) -> None:
        self.cache_events.labels(event).inc()

    def observe_query(self, dataset: str, seconds: float) -> None:
        self.query_time.labels(dataset).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
