"""What the worker says about itself: readiness, recovery progress and consumer lag, as
metrics and health pages. Lag is read from the group's committed offsets (as Kafka tools
see it), for the partitions this worker owns."""

from __future__ import annotations

import asyncio
import logging

import faust
from confluent_kafka import KafkaException, TopicPartition

from oms.kafka_admin import GroupProgress
from oms.settings import Settings
from streams import metrics

log = logging.getLogger(__name__)


def is_ready(app: faust.App) -> bool:
    """Tables recovered and not rebalancing: the worker answers for what it owns."""
    return app.tables.recovery.completed.is_set() and not app.in_recovery


def register_monitoring(app: faust.App, settings: Settings, interval: float = 5.0) -> None:
    progress: GroupProgress | None = None
    prefix = settings.topic_prefix
    reported: set[tuple[str, str]] = set()  # lag series this worker publishes

    def lag_of(partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        nonlocal progress
        progress = progress or GroupProgress(settings, settings.app_id)
        return progress.partition_lag(partitions)

    @app.timer(interval)
    async def observe() -> None:
        metrics.WORKER_READY.set(1 if is_ready(app) else 0)
        remaining = app.tables.recovery.active_remaining()
        for table in app.tables.values():
            changelog = table.changelog_topic.get_topic_name()
            left = sum(n for tp, n in remaining.items() if tp.topic == changelog)
            metrics.TABLE_RECOVERY_REMAINING.labels(table.name).set(left)
        owned = [
            TopicPartition(tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic.startswith(prefix)
        ]
        loop = asyncio.get_running_loop()
        try:
            lags = await loop.run_in_executor(None, lag_of, owned) if owned else {}
        except KafkaException as exc:  # broker away: a metric must not stop the worker
            log.warning("consumer lag not measured this round: %s", exc)
            return
        current = {(t.removeprefix(prefix), str(p)): lag for (t, p), lag in lags.items()}
        for labels, lag in current.items():
            metrics.CONSUMER_LAG.labels(*labels).set(lag)
        for gone in reported - set(current):  # partitions moved to another worker
            metrics.CONSUMER_LAG.remove(*gone)
        reported.clear()
        reported.update(current)
