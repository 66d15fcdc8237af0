"""Starting the monitoring parts of a hub: the metrics collector and the alert evaluator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from omnihub.hub.monitoring.collector import MetricsCollector
from omnihub.hub.monitoring.evaluator import AlertEvaluator
from omnihub.hub.monitoring.notify import Notifier

if TYPE_CHECKING:
    from omnihub.hub.runtime import Hub


@contextlib.asynccontextmanager
async def monitoring_running(hub: Hub) -> AsyncIterator[None]:
    settings = hub.settings
    collector = MetricsCollector(hub.db, hub.bus, hub.metrics,
                                 interval=settings.monitoring.collect_seconds)
    evaluator = AlertEvaluator(hub.db, hub.metrics, settings.alerts,
                               Notifier(settings.alerts.notify, hub.http))
    async with collector.running(), evaluator.running():
        yield
