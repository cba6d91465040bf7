"""Thin Faust glue for the intake: one agent per worker source topic, one shared seen-table.

Every agent decodes, de-duplicates, validates (intake.examine), hands accepted records to the
topic's handler (the inventory ledger, ...), then forwards input events to accepted-events or
dead-letters the message with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import faust

from oms.settings import Settings
from schemas.serde import AvroSerde
from streams import metrics
from streams.ingest import dedupe, intake
from streams.topics import ACCEPTED_EVENTS, DEAD_LETTERS, WORKER_SOURCES, TopicKind, TopicSpec

log = logging.getLogger(__name__)

# (event type, record) -> None when handled, or the reason to dead-letter the message
Handler = Callable[[str, dict], Awaitable[str | None]]


def register_intake(
    app: faust.App, settings: Settings, serde: AvroSerde, handlers: dict[str, Handler]
) -> None:
    """handlers: topic suffix -> the handler of that topic's accepted records."""
    prefix = settings.topic_prefix
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    accepted = app.topic(ACCEPTED_EVENTS.name(prefix), **raw)
    dead_letters = app.topic(DEAD_LETTERS.name(prefix), **raw)
    # record id -> topic:partition:offset of its first message (see dedupe.py)
    seen = app.Table("seen-event-ids", key_type=str, value_type=str, default=None)

    def make_agent(spec: TopicSpec) -> None:
        source = app.topic(spec.name(prefix), **raw)
        handler = handlers.get(spec.suffix)

        async def intake_agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                message = event.message
                here = dedupe.position(message.topic, message.partition, message.offset)
                outcome, verdict = intake.examine(
                    serde, spec, message.key, message.value, here, seen.get
                )
                # A re-read (dedupe.py) re-forwards the event but never re-applies its state
                # change: under transactions its state and outputs committed together.
                fresh = verdict is dedupe.Verdict.NEW
                if isinstance(outcome, intake.Accepted) and handler is not None and fresh:
                    refused = await handler(outcome.event_type, outcome.record)
                    if refused:
                        outcome = intake.Rejected(refused, outcome.event_type, outcome.event_id)
                if isinstance(outcome, intake.Accepted):
                    _count_accepted(spec, outcome)
                    if spec.kind is TopicKind.INPUT:
                        await accepted.send(key=message.key, value=message.value)
                elif isinstance(outcome, intake.Duplicate):
                    metrics.EVENTS_DUPLICATE.labels(spec.suffix).inc()
                elif isinstance(outcome, intake.Rejected):
                    metrics.EVENTS_DEAD_LETTERED.labels(spec.suffix).inc()
                    record = intake.dead_letter_record(
                        outcome,
                        message.topic,
                        message.partition,
                        message.offset,
                        message.timestamp and int(message.timestamp * 1000),
                        message.key,
                        message.value,
                    )
                    await dead_letters.send(
                        key=message.key, value=serde.encode("DeadLetter", record)
                    )
                    log.info("dead-lettered %s: %s", here, outcome.reason)
                if fresh:
                    seen[outcome.event_id] = here

        app.agent(source, name=f"intake-{spec.suffix}")(intake_agent)

    for spec in WORKER_SOURCES:
        make_agent(spec)


def _count_accepted(spec: TopicSpec, outcome: intake.Accepted) -> None:
    metrics.EVENTS_PROCESSED.labels(spec.suffix, outcome.event_type).inc()
    occurred_at = outcome.record.get("occurred_at")
    if occurred_at is not None:
        delay = (datetime.now(UTC) - occurred_at).total_seconds()
        metrics.EVENT_DELAY.labels(spec.suffix).observe(max(delay, 0.0))
