"""`oms bench`: events/s of raw consume+decode against the first slice, in one run.

Both measurements read the same N events from the same broker, so the ratio means
something on a shared machine even when the absolute numbers drift.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer

from connectors.sources.replay import publish_events
from connectors.sources.synthetic import synthetic_events
from oms import processes
from oms.kafka_admin import GroupProgress, create_topics
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.topics import INPUT_TOPICS


@dataclass
class Measurement:
    name: str
    events: int
    seconds: float
    peak_rss_mib: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def publish(settings: Settings, count: int, seed: int) -> None:
    create_topics(settings)
    producer = Producer(settings.producer_config())
    publish_events(producer, settings.topic_prefix, synthetic_events(count, seed), "bench")


def raw_consume_decode(settings: Settings, count: int) -> Measurement:
    """The Python floor: confluent-kafka consume plus Avro decode, nothing else."""
    serde = AvroSerde()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-raw",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([spec.name(settings.topic_prefix) for spec in INPUT_TOPICS])
    seen = 0
    started = None
    while seen < count:
        for message in consumer.consume(1000, timeout=1.0):
            if message.error():
                continue
            started = started or time.perf_counter()
            serde.decode(message.value())
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return Measurement("raw consume + decode (confluent-kafka, 1 process)", seen, elapsed)


def first_slice(settings: Settings, count: int) -> Measurement:
    """Worker (decode, validate, dedupe table, forward) and sink into ClickHouse, drained.

    Timed from the worker's first commit, so process start-up and recovery are excluded.
    """
    with LocalPipeline(settings, timeout=1800) as pipeline:
        progress = GroupProgress(settings, settings.app_id)
        partitions = progress.partitions(pipeline.input_topics)
        processes.wait_for(
            lambda: sum(progress.committed(partitions).values()) > 0,
            pipeline.children,
            300,
            "the worker's first commit",
        )
        started = time.perf_counter()
        done_at_start = sum(progress.committed(partitions).values())
        pipeline.drain()
        elapsed = time.perf_counter() - started
        rss = peak_rss_mib(pipeline.worker.process.pid)
        progress.close()
    return Measurement(
        "first slice: worker + ClickHouse sink, end to end", count - done_at_start, elapsed, rss
    )


def peak_rss_mib(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
