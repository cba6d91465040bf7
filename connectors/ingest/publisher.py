"""Publishes ingest messages with the idempotent producer; a request is answered only after
Kafka acknowledged every one of its messages (delivery callbacks, polled by a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Protocol

from confluent_kafka import KafkaException, Producer

from connectors.ingest.mapping import Message


class PublishError(RuntimeError):
    """Kafka did not take a message: the sender should retry."""


class Publisher(Protocol):
    async def publish(self, messages: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


class KafkaPublisher:
    def __init__(self, config: dict, timeout: float = 30.0) -> None:
        """config: Settings.producer_config() (idempotent, murmur2 key partitioning, so a key
        lands where replay.py's partitioner puts it)."""
        self.timeout = timeout
        self._producer = Producer({**config, "linger.ms": 0, "message.timeout.ms": 30000})
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="ingest-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def publish(self, messages: Sequence[Message]) -> None:
        loop = asyncio.get_running_loop()
        pending = []
        for message in messages:
            done = loop.create_future()

            def delivered(error, _msg, done=done) -> None:  # on the poll thread
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(_settle, done, error)

            try:
                self._producer.produce(
                    message.topic,
                    message.value,
                    message.key,
                    timestamp=message.timestamp_ms,
                    on_delivery=delivered,
                )
            except (BufferError, KafkaException) as exc:
                raise PublishError(str(exc)) from None
            pending.append(done)
        try:
            errors = await asyncio.wait_for(asyncio.gather(*pending), self.timeout)
        except TimeoutError:
            raise PublishError("Kafka did not acknowledge in time") from None
        failed = [e for e in errors if e is not None]
        if failed:
            raise PublishError(str(failed[0]))

    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=5)
        self._producer.flush(10)


def _settle(done: asyncio.Future, error) -> None:
    if not done.done():
        done.set_result(error)
