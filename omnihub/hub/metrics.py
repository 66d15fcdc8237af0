"""Prometheus metrics of one hub process, on a registry of its own (tests run many hubs)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from omnihub.router.runtime import RoutingVersion

UNROUTED = "unrouted"  # the group label of conversations not routed to any group
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The figures operators watch: ingest by channel, rejects, outbox depth, dead letters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingest_total = Counter(
            "omnihub_ingest_total", "Inbound messages by channel and result (stored, duplicate).",
            ["channel", "result"], registry=r)
        self.ingest_latency = Histogram(
            "omnihub_ingest_latency_seconds", "Webhook receipt to durable commit, by channel.",
            ["channel"], buckets=LATENCY_BUCKETS, registry=r)
        self.webhook_rejected = Counter(
            "omnihub_webhook_rejected_total", "Webhooks refused, by channel and reason.",
            ["channel", "reason"], registry=r)
        self.rate_limited = Counter(
            "omnihub_rate_limited_total",
            "Requests refused with 429 by the per-client limits, by endpoint class "
            "(webhooks, webchat).", ["endpoint"], registry=r)
        self.webhook_ignored = Counter(
            "omnihub_webhook_ignored_total", "Well-formed provider events not handled, by channel.",
            ["channel", "event"], registry=r)
        self.outbound_total = Counter(
            "omnihub_outbound_total", "Outbound sends by channel and result (sent, retry, failed).",
            ["channel", "result"], registry=r)
        self.outbox_depth = Gauge(
            "omnihub_outbox_depth", "Outbox rows not yet dispatched.", registry=r)
        self.outbox_oldest_age = Gauge(
            "omnihub_outbox_oldest_age_seconds", "Age of the oldest undispatched outbox row.",
            registry=r)
        self.dead_letters = Gauge(
            "omnihub_dead_letters", "Jobs in the dead-letter list.", registry=r)
        self.retrying_jobs = Gauge(
            "omnihub_retrying_jobs", "Jobs waiting for a retry.", registry=r)
        self.store_up = Gauge("omnihub_store_up", "1 when the store answers.", registry=r)
        self.bus_up = Gauge("omnihub_bus_up", "1 when the bus answers.", registry=r)
        self.media_writable = Gauge(
            "omnihub_media_writable",
            "0 while the media directory refuses writes (disk full, read-only, I/O errors).",
            registry=r)
        self.media_writable.set(1)
        self.routing_reload_errors = Counter(
            "omnihub_routing_reload_errors", "routing.yaml versions refused on reload.",
            registry=r)
        self.routing_version = Gauge(
            "omnihub_routing_version_info", "The routing.yaml version in force (value 1).",
            ["sha256", "path"], registry=r)
        self.routing_valid = Gauge(
            "omnihub_routing_config_valid", "0 while the latest routing.yaml edit is refused.",
            registry=r)
        self.sla_breaches = Counter(
            "omnihub_sla_breaches", "Missed SLA deadlines fired, by metric and skill group.",
            ["metric", "group"], registry=r)
        self.assignments = Counter(
            "omnihub_assignments", "Conversations handed to agents automatically, by group.",
            ["group"], registry=r)
        self._monitoring(r)

    def _monitoring(self, r: CollectorRegistry) -> None:
        """Operations figures: HTTP, providers, webhooks, backlog, pollers, probes, alerts."""
        self.http_latency = Histogram(
            "omnihub_http_request_duration_seconds",
            "HTTP requests by method, route template (not the raw path) and status code.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.provider_errors = Counter(
            "omnihub_provider_errors_total",
            "Failed sends to a provider, by channel and kind (rate_limited, temporary, permanent).",
            ["channel", "kind"], registry=r)
        self.webhook_delivery_latency = Histogram(
            "omnihub_webhook_delivery_seconds",
            "Outbound webhook POSTs to agent systems, by endpoint, answered or not.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.webhook_delivery_failures = Counter(
            "omnihub_webhook_delivery_failures_total",
            "Outbound webhook POSTs that failed, by endpoint and reason (status code or error).",
            ["endpoint", "reason"], registry=r)
        self.conversations_open = Gauge(
            "omnihub_conversations_open", "Open conversations by skill group.", ["group"],
            registry=r)
        self.conversations_unassigned = Gauge(
            "omnihub_conversations_unassigned", "Open conversations nobody is assigned to.",
            ["group"], registry=r)
        self.conversations_overdue = Gauge(
            "omnihub_conversations_overdue",
            "Unresolved conversations past a response or resolution deadline.", ["group"],
            registry=r)
        self.imap_poll_lag = Gauge(
            "omnihub_imap_poll_lag_seconds",
            "Seconds since an e-mail channel last polled its mailbox successfully.", ["channel"],
            registry=r)
        self.store_ping = Gauge(
            "omnihub_store_ping_seconds", "Time of the last `SELECT 1` probe of the store.",
            registry=r)
        self.redis_ping = Gauge(
            "omnihub_redis_ping_seconds", "Time of the last PING of the Redis bus.", registry=r)
        self.alerts_firing = Gauge(
            "omnihub_alerts_firing", "1 while an alert rule of hub.yaml is firing.", ["alert"],
            registry=r)
        self._polled: dict[str, float] = {}

    def imap_polled(self, channel: str, at: float | None = None) -> None:
        """An e-mail channel finished a poll (call it after every successful IMAP poll).

        The lag then grows by itself: the metrics collector sets
        `omnihub_imap_poll_lag_seconds{channel}` to the time since this call on every tick,
        so a poller that hangs shows up without having to report anything.
        """
        self._polled[channel] = time.time() if at is None else at
        self.imap_poll_lag.labels(channel).set(0)

    def refresh_poll_lag(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for channel, at in self._polled.items():
            self.imap_poll_lag.labels(channel).set(max(0.0, now - at))

    def sla_breached(self, metric: str, group: str | None) -> None:
        self.sla_breaches.labels(metric, group or UNROUTED).inc()

    def routing_loaded(self, version: RoutingVersion) -> None:
        """A routing version took effect: it alone is labelled as in force."""
        self.routing_version.clear()
        self.routing_version.labels(sha256=version.sha256 or "none",
                                    path=str(version.path or "")).set(1)
        self.routing_valid.set(1)

    def routing_rejected(self) -> None:
        self.routing_reload_errors.inc()
        self.routing_valid.set(0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
