"""The running hub: every long-lived part, started in order and stopped in reverse.

`open_hub` is the one place that wires store, bus, dispatcher, consumers and connectors
together; the HTTP app, the CLI and the tests all go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from omnihub.connectors.base import Connector, ConnectorContext
from omnihub.hub.intake import bind_intake
from omnihub.connectors.registry import connector_types
from omnihub.hub.bus import Bus, make_bus
from omnihub.hub.consumers import ConsumerRunner
from omnihub.hub.dispatcher import OutboxDispatcher
from omnihub.hub.metrics import Metrics
from omnihub.hub.settings import HubSettings
from omnihub.normalizer.media import MediaStore
from omnihub.normalizer.pipeline import NormalizerPipeline, default_pipeline
from omnihub.profiles.service import ProfileService
from omnihub.router.assigner import Assigner
from omnihub.router.ingest_hook import RoutingHook
from omnihub.bot.hook import with_bot
from omnihub.router.canary import CanaryState
from omnihub.router.runtime import RoutingState
from omnihub.router.sla_worker import SlaWorker
from omnihub.store import Store
from omnihub.store.db import Database
from omnihub.store.outbox import RetryPolicy

if TYPE_CHECKING:
    from omnihub.inbox.webhook_registry import WebhookRegistry

log = logging.getLogger("omnihub")


@dataclass
class Hub:
    settings: HubSettings
    db: Database
    store: Store
    bus: Bus
    dispatcher: OutboxDispatcher
    consumers: ConsumerRunner
    pipeline: NormalizerPipeline
    metrics: Metrics
    http: aiohttp.ClientSession
    routing: RoutingState
    assigner: Assigner
    sla: SlaWorker
    connectors: dict[str, Connector] = field(default_factory=dict)
    profiles: ProfileService | None = None  # derived customer tags (omnihub/profiles/)
    canary: CanaryState | None = None  # a staged routing rollout (omnihub/router/canary.py)
    webhooks: WebhookRegistry | None = None  # endpoints added through /api/v1/webhooks
    media: MediaStore | None = None  # the connectors' blob store (its health is in /readyz)


HUB = web.AppKey("hub", Hub)


def retry_policy(settings: HubSettings) -> RetryPolicy:
    o = settings.outbox
    return RetryPolicy(max_attempts=o.max_attempts, base_seconds=o.backoff_base_seconds,
                       max_seconds=o.backoff_max_seconds, dead_after_seconds=o.dead_after_seconds)


STOP_TIMEOUT_SECONDS = 15.0
#: the cyclic GC's thresholds while serving (young, middle, old generation); see open_hub
GC_THRESHOLDS = (50_000, 20, 10)


def bounded(stop: Callable[[], Awaitable[object]], name: str) -> Callable[[], Awaitable[None]]:
    """A stop that can't hang shutdown: a part that doesn't stop in time is logged by name
    and left behind, so the rest of the hub (and the store's final commit) still closes."""

    async def run() -> None:
        try:
            await asyncio.wait_for(stop(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.error("%s did not stop within %.0fs; shutting down without it",
                      name, STOP_TIMEOUT_SECONDS)

    return run


@contextlib.asynccontextmanager
async def open_hub(settings: HubSettings, *, freeze_gc: bool = False) -> AsyncIterator[Hub]:
    """Start every part of the hub; on exit stop them in reverse order.

    `freeze_gc`: the serving process moves what it built out of the cyclic collector's
    reach (below); embedders and tests, with heaps of their own, leave the GC alone.
    """
    from omnihub.bot.worker import FaqBot
    from omnihub.hub.delivery import DELIVERY_LANES, DeliveryHandler
    from omnihub.inbox.snooze import snooze_waker
    from omnihub.inbox.webhook_registry import WebhookRegistry
    from omnihub.inbox.webhooks_out import register_webhooks, webhook_policy
    from omnihub.hub.keys import load_cipher
    from omnihub.store.migrate import upgrade
    from omnihub.hub.daily import DailyMaintenance
    from omnihub.profiles.wiring import profile_service
    from omnihub.hub.monitoring.wiring import monitoring_running

    async with contextlib.AsyncExitStack() as stack:
        db = Database(settings.store.url)
        stack.push_async_callback(db.dispose)
        await db.ping()
        await upgrade(db)
        cipher = load_cipher(settings)
        metrics = Metrics()
        bus = make_bus(settings.bus.url, prefix=settings.bus.stream_prefix)
        await bus.start()
        stack.push_async_callback(bounded(bus.close, "bus"))
        dispatcher = OutboxDispatcher(db, bus)
        routing = RoutingState(settings.routing, metrics=metrics)
        canary = CanaryState(settings.data_dir) if settings.routing is not None else None
        store = Store(db, cipher, on_commit=dispatcher.notify, on_events=dispatcher.offer,
                      router=with_bot(RoutingHook(routing, canary)
                                      if settings.routing is not None else None, settings.bot))
        dispatcher.marker = store.mark_dispatched  # marks ride along in ingest commits
        store.csat_window = timedelta(days=settings.inbox.csat.answer_window_days)
        await store.start()
        stack.push_async_callback(bounded(store.close, "store writer"))
        # Every outbound call (webhooks, provider APIs, alerts) shares this session. It
        # keeps no cookies: what one receiver's answer sets must not be replayed to it,
        # or to another endpoint on its host, with the next delivery.
        http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        stack.push_async_callback(http.close)
        assigner = Assigner(store, routing,
                            on_assigned=lambda group: metrics.assignments.labels(group).inc())
        hub = Hub(
            settings=settings, db=db, store=store, bus=bus, dispatcher=dispatcher,
            consumers=ConsumerRunner(db, bus, retry_policy(settings)),
            pipeline=default_pipeline(max_text_bytes=settings.limits.max_text_bytes,
                                      max_media_bytes=settings.media.max_upload_bytes),
            metrics=metrics, http=http, routing=routing, assigner=assigner,
            sla=SlaWorker(store, routing, assigner=assigner,
                          on_breach=metrics.sla_breached),
        )
        types = connector_types()
        hub.media = MediaStore(settings.media.dir, max_bytes=settings.media.max_upload_bytes,
                               on_writable=metrics.media_writable.set)
        context = ConnectorContext(
            http=http, public_url=settings.server.public_url, media=hub.media,
            max_body_bytes=settings.limits.max_body_bytes,
            # the web chat fans out over the bus; a phone IVR asks routing for hours
            # metrics: an e-mail poller reports each poll (Metrics.imap_polled)
            extra={"bus": bus, "store": store, "routing": routing, "metrics": metrics})
        for channel in settings.channels:
            own = dataclasses.replace(context, intake=bind_intake(hub, channel.id))
            connector = types[channel.type](channel, own)
            await connector.start()
            stack.push_async_callback(bounded(connector.stop, f"channel {channel.id}"))
            hub.connectors[channel.id] = connector
        hub.consumers.register("deliveries", "delivery", DeliveryHandler(hub),
                               lanes=DELIVERY_LANES)
        hub.consumers.register("routing", "event", assigner.handle, ordered=False)
        if settings.bot.enabled:  # the FAQ bot answers the conversations it holds
            hub.consumers.register("bot", "event", FaqBot(hub).handle)
        hub.profiles = profile_service(db, settings)
        if hub.profiles.rules is not None:  # derived tags follow conversations and merges
            hub.consumers.register("profiles", "event", hub.profiles.handle, ordered=False)
        await hub.consumers.start()
        stack.push_async_callback(bounded(hub.consumers.stop, "consumers"))
        # Outbound webhooks retry on their own runner: their policy is time-bound (>= 24 h).
        webhooks = ConsumerRunner(db, bus, webhook_policy(settings.inbox),
                                  retry_interval=settings.inbox.webhook_retry.poll_seconds)
        register_webhooks(webhooks, settings.inbox, http, metrics)
        hub.webhooks = WebhookRegistry(webhooks, db, cipher, http, metrics)
        await hub.webhooks.sync()  # registered before start: their retries resume too
        await webhooks.start()
        stack.push_async_callback(bounded(webhooks.stop, "webhook consumers"))
        await stack.enter_async_context(hub.webhooks.refreshing())
        await stack.enter_async_context(snooze_waker(store))
        await stack.enter_async_context(routing.watching())
        if canary is not None:
            hub.canary = canary
            await stack.enter_async_context(canary.watching())
        await stack.enter_async_context(hub.sla.running())
        await stack.enter_async_context(DailyMaintenance(db, settings).running())  # backups
        await stack.enter_async_context(hub.profiles.running())
        await dispatcher.start()
        stack.push_async_callback(bounded(dispatcher.stop, "outbox dispatcher"))
        await stack.enter_async_context(monitoring_running(hub))  # collector, alerts
        log.info("hub ready: store %s, bus %s, channels %s", db.safe_url, settings.bus.url,
                 ", ".join(hub.connectors) or "none")
        # What is built by now lives as long as the hub: keep it out of the cyclic GC's
        # full collections, which otherwise walk it about once a second under load
        # (~80 ms pauses measured; they were most of the ingest p99).
        if freeze_gc:
            gc.collect()
            gc.freeze()
            # A webhook allocates hundreds of objects, almost none in cycles: at the
            # default threshold (700) a young collection ran every request or so. Fewer,
            # larger ones cost less in all (measured ~8% of the ingest CPU per message);
            # full collections stay rare, as Python's own 25%-growth rule keeps them.
            previous = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLDS)
            stack.callback(gc.set_threshold, *previous)
            stack.callback(gc.unfreeze)
        yield hub
