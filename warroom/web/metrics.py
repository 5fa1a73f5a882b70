"""Prometheus metrics, on a registry of the app's own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alerts = Counter(
            "warroom_alerts_total", "Alerts received, by source and what became of them", ["source", "result"],
            registry=self.registry,
        )
        self.intake_rejected = Counter(
            "warroom_intake_rejected_total", "Alert deliveries refused, by source and reason", ["source", "reason"],
            registry=self.registry,
        )
        self.incidents = Counter(
            "warroom_incidents_declared_total", "Major incidents declared, by origin", ["origin"], registry=self.registry
        )
        self.jobs = Counter(
            "warroom_outbox_jobs_total", "Outbox job runs, by kind and outcome", ["kind", "outcome"], registry=self.registry
        )
        self.job_seconds = Histogram(
            "warroom_outbox_job_seconds", "Time to run an outbox job, by kind", ["kind"], registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.outbox = Gauge("warroom_outbox_backlog", "Outbox jobs by status", ["status"], registry=self.registry)

    def observe_job(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_seconds.labels(kind).observe(seconds)

    def set_outbox(self, counts: dict[str, int]) -> None:
        for status in ("pending", "running", "done", "dead"):
            self.outbox.labels(status).set(counts.get(status, 0))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
