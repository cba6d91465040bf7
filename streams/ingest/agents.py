"""Thin Faust glue for the intake: one agent per input topic, one shared seen-table."""

from __future__ import annotations

import logging

import faust

from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.ingest import dedupe, intake
from streams.topics import ACCEPTED_EVENTS, DEAD_LETTERS, INPUT_TOPICS, TopicSpec

log = logging.getLogger(__name__)


def register_intake(app: faust.App, settings: Settings) -> None:
    serde = AvroSerde()
    prefix = settings.topic_prefix
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    accepted = app.topic(ACCEPTED_EVENTS.name(prefix), **raw)
    dead_letters = app.topic(DEAD_LETTERS.name(prefix), **raw)
    # event_id -> topic:partition:offset of its first message (see dedupe.py)
    seen = app.Table("seen-event-ids", key_type=str, value_type=str, default=None)

    def make_agent(spec: TopicSpec) -> None:
        source = app.topic(spec.name(prefix), **raw)

        async def intake_agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                message = event.message
                here = dedupe.position(message.topic, message.partition, message.offset)
                outcome, verdict = intake.examine(
                    serde, spec, message.key, message.value, here, seen.get
                )
                if isinstance(outcome, intake.Accepted):
                    await accepted.send(key=message.key, value=message.value)
                elif isinstance(outcome, intake.Rejected):
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
                if verdict is dedupe.Verdict.NEW:
                    seen[outcome.event_id] = here

        app.agent(source, name=f"intake-{spec.suffix}")(intake_agent)

    for spec in INPUT_TOPICS:
        make_agent(spec)
