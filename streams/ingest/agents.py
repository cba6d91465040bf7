"""Thin Faust glue for the intake: one agent per worker source topic, one shared seen-table.

Every agent decodes, de-duplicates, validates (intake.examine), hands accepted records to the
topic's handler (the inventory ledger, ...), then forwards input events to accepted-events or
dead-letters the message with the reason.

Order of effects, which makes a crash at any point harmless (at-least-once processing with
idempotent effects): a message's outputs go to the producer before the state that records
it is written, and its offset is committed only after the producer has flushed both. A
message read again after a crash therefore finds either nothing done (and does it all), or
its outputs sent but not its state (and sends them again: they carry stable ids that
downstream de-duplicates), or everything done (handlers see the source offset in their
state and skip). The one order the producer does not promise: a failed, retried output
request overtaken by the state's changelog record, with a crash in between; `oms inventory
reconcile` would show it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import faust
from faust.types import TP

from oms.settings import Settings
from schemas.serde import AvroSerde
from streams import metrics
from streams.applied import AppliedOffsets, Sent
from streams.clock import ClockBroadcaster
from streams.ingest import dedupe, intake
from streams.topics import ACCEPTED_EVENTS, DEAD_LETTERS, WORKER_SOURCES, TopicKind, TopicSpec

log = logging.getLogger(__name__)

# (event type, record, "topic:partition", offset) -> None when handled, or the reason to
# dead-letter the message. A handler delivers its outputs before it writes its state.
Handler = Callable[[str, dict, str, int], Awaitable[str | None]]


_collected: ContextVar[list[Sent] | None] = ContextVar("collected", default=None)


async def deliver(topic: faust.TopicT, key: bytes | None, value: bytes) -> None:
    """Hands the record to the producer now, ahead of any state written after it.

    Faust would otherwise hold it until the next commit, behind the table changelog records
    of the same message. Not awaited: waiting for each acknowledgement stalls Faust's offset
    tracking after a restart (seen in the SIGKILL test); the commit flushes the producer
    before it commits offsets, so nothing is committed before its outputs are in Kafka.
    Inside `collecting()`, the record is also noted for the value's outbox.
    """
    await topic.send(key=key, value=value, force=True)
    collected = _collected.get()
    if collected is not None:
        collected.append((topic.get_topic_name(), key or b"", value))


@contextmanager
def collecting() -> Iterator[list[Sent]]:
    """Notes what is delivered inside the block (per asyncio task: agents do not mix)."""
    sent: list[Sent] = []
    token = _collected.set(sent)
    try:
        yield sent
    finally:
        _collected.reset(token)


class Redelivery:
    """Sends again what a re-read message's change sent the first time (its outbox)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, faust.TopicT] = {}

    def committed(self, source: str) -> int:
        """The committed offset of a "topic:partition" this worker consumes (-1 unknown)."""
        topic, partition = source.rsplit(":", 1)
        offset = self.app.consumer._committed_offset.get(TP(topic, int(partition)))
        return -1 if offset is None else offset

    async def resend(self, records: list[Sent]) -> None:
        for topic, key, value in records:
            if topic not in self._topics:
                self._topics[topic] = self.app.topic(
                    topic, key_serializer="raw", value_serializer="raw"
                )
            await deliver(self._topics[topic], key, value)


async def apply_once(
    redelivery: Redelivery,
    value: AppliedOffsets,
    source: str,
    offset: int,
    change: Callable[[], Awaitable[str | None]],
    store: Callable[[], None],
) -> str | None:
    """Applies a message's change to a table value at most once.

    change() mutates the value and delivers its outputs (or returns the reason to refuse
    the message, changing nothing); store() writes the value. A message read again after a
    crash finds its change in the value: what it sent is sent again and the value written
    again (either may have died with the crash), and nothing else happens.
    """
    if value.already_applied(source, offset):
        await redelivery.resend(value.unsent(source, offset))
        store()
        return None
    with collecting() as sent:
        refused = await change()
    if refused:
        return refused
    value.mark_applied(source, offset, sent, redelivery.committed)
    store()
    return None


def register_intake(
    app: faust.App,
    settings: Settings,
    serde: AvroSerde,
    handlers: dict[str, Handler],
    clock: ClockBroadcaster,
) -> None:
    """handlers: topic suffix -> the handler of that topic's accepted records; clock hears
    the event time of every accepted input event."""
    prefix = settings.topic_prefix
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    accepted = app.topic(ACCEPTED_EVENTS.name(prefix), **raw)
    dead_letters = app.topic(DEAD_LETTERS.name(prefix), **raw)
    # topic/record id -> topic:partition:offset of its first message (see dedupe.py)
    seen = app.Table("seen-event-ids", key_type=str, value_type=str, default=None)

    def make_agent(spec: TopicSpec) -> None:
        source = app.topic(spec.name(prefix), **raw)
        handler = handlers.get(spec.suffix)

        def seen_at(record_id: str) -> str | None:
            return seen.get(dedupe.seen_key(spec.suffix, record_id))

        async def intake_agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                message = event.message
                here = dedupe.position(message.topic, message.partition, message.offset)
                outcome = intake.examine(serde, spec, message.key, message.value, here, seen_at)
                if isinstance(outcome, intake.Duplicate):
                    metrics.EVENTS_DUPLICATE.labels(spec.suffix).inc()
                    continue
                if isinstance(outcome, intake.Accepted) and handler is not None:
                    refused = await handler(
                        outcome.event_type,
                        outcome.record,
                        f"{message.topic}:{message.partition}",
                        message.offset,
                    )
                    if refused:
                        outcome = intake.Rejected(refused, outcome.event_type, outcome.event_id)
                if isinstance(outcome, intake.Accepted):
                    _count_accepted(spec, outcome)
                    if spec.kind is TopicKind.INPUT:
                        await deliver(accepted, message.key, message.value)
                        await clock.observe(outcome.record["occurred_at"])
                else:
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
                    await deliver(dead_letters, message.key, serde.encode("DeadLetter", record))
                    log.info("dead-lettered %s: %s", here, outcome.reason)
                if outcome.event_id is not None:
                    seen[dedupe.seen_key(spec.suffix, outcome.event_id)] = here

        app.agent(source, name=f"intake-{spec.suffix}")(intake_agent)

    for spec in WORKER_SOURCES:
        make_agent(spec)
        metrics.EVENTS_DEAD_LETTERED.labels(spec.suffix)
        metrics.EVENTS_DUPLICATE.labels(spec.suffix)


def _count_accepted(spec: TopicSpec, outcome: intake.Accepted) -> None:
    metrics.EVENTS_PROCESSED.labels(spec.suffix, outcome.event_type).inc()
    occurred_at = outcome.record.get("occurred_at")
    if spec.kind is TopicKind.INPUT and occurred_at is not None:  # upstream events only
        delay = (datetime.now(UTC) - occurred_at).total_seconds()
        metrics.EVENT_DELAY.labels(spec.suffix).observe(max(delay, 0.0))
