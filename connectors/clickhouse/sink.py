"""The ClickHouse sink: a Kafka consumer that writes the pipeline's output topics in batches.

The exactly-once argument, case by case (the design of ClickHouse's own Kafka Connect sink):
- A batch is what one consume() call returned, bounded by size and time. Its rows are
  inserted table by table, then its offsets are committed. Offsets never run ahead of
  what ClickHouse holds.
- Crash before an insert: nothing of the batch is committed; it is read again.
- Crash between insert and commit: the batch is read again and inserted again. Each insert
  carries a deduplication token built from the table and the batch's topic/partition/offset
  ranges, so a batch re-formed identically is dropped by the engine; one re-formed
  differently is NOT dropped, it collapses under FINAL, because every table is a
  ReplacingMergeTree keyed by the identity of what a row describes (event_id, source
  position, entity id + version).
- KPI rollups (rollups.py): after a batch's inserts and before its commit, the rollup
  buckets (days, hours) its rows can change are recomputed from the FINAL state tables and
  written under a new generation; readers see each bucket's latest one. No materialized
  view counts inserts: a batch re-inserted in another composition would be counted twice.
  A recompute reads FINAL, so it gives the from-scratch answer however often rows were
  written, and recomputing the same buckets again changes nothing. So a crash anywhere
  (before the inserts, between inserts and recompute, during it, before the commit) ends
  exactly right: the batch is read again, written again and its buckets recomputed again.
  A failed recompute is retried with the batch like a failed insert. run() first fills
  the buckets the rollups lack (after migration 005 on a database that already has data).
- ClickHouse slow or down: the batch is retried with exponential backoff while the consumer
  is paused (it keeps its group membership but pulls nothing), so memory stays bounded
  to one batch and nothing is skipped.
- Rebalance during a retry: the batch is abandoned uncommitted; its new owner re-reads it.
- A consumer that lost its group coordinator for good: librdkafka 2.16 can keep a broker
  that left the metadata during a restart as the group's coordinator and wait on it for
  ever (its issue 5511). After `oms chaos` restarted the broker, one sink's offset commit
  never returned, and another's session expired and it never joined the group again.
  A commit not back after commit_hang_after seconds (past librdkafka's own 60 s request
  timeout), or rejoin_within seconds out of the group, leaves that consumer behind,
  closing in a thread of its own (closing waits on the same coordinator), and a new one
  joins the group; what was not committed is read again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from connectors.clickhouse import rollups, status
from connectors.clickhouse import rows as row_mapping
from oms.kafka_admin import retrying
from schemas.serde import AvroSerde, DecodeError
from streams.topics import (
    ACCEPTED_EVENTS,
    ALLOCATIONS,
    DEAD_LETTERS,
    DELIVERY_EXCEPTIONS,
    INVENTORY_MOVEMENTS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    SHIPMENT_STATUS,
    SHIPMENTS,
    STOCK_SIGNALS,
    TopicSpec,
)

log = logging.getLogger(__name__)

RowMapper = Callable[[Message], list[tuple[str, dict]]]
RollupRefresh = Callable[[Client, dict[str, list[dict]]], object]


@dataclass
class Batch:
    rows: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    messages: int = 0

    def add(self, message: Message, table_rows: list[tuple[str, dict]]) -> None:
        tp = (message.topic(), message.partition())
        first, _ = self.ranges.get(tp, (message.offset(), message.offset()))
        self.ranges[tp] = (first, message.offset())
        for table, row in table_rows:
            self.rows[table].append(row)
        self.messages += 1

    def dedup_token(self, table: str) -> str:
        spans = ",".join(f"{t}/{p}/{a}-{b}" for (t, p), (a, b) in sorted(self.ranges.items()))
        return f"{table}:{hashlib.sha256(spans.encode()).hexdigest()[:32]}"

    def commit_offsets(self) -> list[TopicPartition]:
        return [TopicPartition(t, p, last + 1) for (t, p), (_, last) in self.ranges.items()]


class ClickHouseSink:
    def __init__(
        self,
        client: Client,
        consumer_config: dict,
        mappers: dict[str, RowMapper],
        batch_size: int,
        flush_interval: float,
        max_backoff: float = 30.0,
        refresh_rollups: RollupRefresh | None = rollups.refresh,
        commit_hang_after: float = 90.0,
        rejoin_within: float = 60.0,
    ) -> None:
        self.client = client
        self.refresh_rollups = refresh_rollups  # None: tables only, no KPI rollups
        self.mappers = mappers
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.commit_hang_after = commit_hang_after
        self.rejoin_within = rejoin_within
        self._outside_since: float | None = None  # when the consumer was last seen out
        self.consumer_config = {
            **consumer_config,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
        self.consumer = self._new_consumer()
        self._revoked: set[tuple[str, int]] = set()
        self.healthy = True  # the last insert went through (readiness)

    def _new_consumer(self) -> Consumer:
        return Consumer(self.consumer_config)

    def _subscribe(self) -> None:
        self.consumer.subscribe(list(self.mappers), on_revoke=self._on_revoke)

    def _on_revoke(self, _consumer, partitions: list[TopicPartition]) -> None:
        self._revoked.update((tp.topic, tp.partition) for tp in partitions)

    def run(self, should_stop: Callable[[], bool]) -> None:
        self._subscribe()
        if self.refresh_rollups:
            try:
                rollups.backfill(self.client)
            except Exception as exc:  # the batches still refresh what they touch
                log.warning("could not fill the KPI rollups' missing buckets: %s", exc)
        try:
            while not should_stop():
                self.step()
        finally:
            self.consumer.close()

    def step(self) -> int:
        """One batch: consume, insert, commit. Returns the number of messages handled."""
        self._check_membership()
        messages = self.consumer.consume(self.batch_size, timeout=self.flush_interval)
        batch = Batch()
        for message in messages:
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            batch.add(message, self.mappers[message.topic()](message))
        if not batch.messages:
            return 0
        self._revoked.clear()
        if self._write(batch) and self._commit(batch):
            self._observe_lag()
        return batch.messages

    def _commit(self, batch: Batch) -> bool:
        """A coordinator moving or loading (a broker restarting) is waited out. A commit that
        still fails is left to the next batch's commit or the partition's next owner: the
        rows are in ClickHouse, and reading them again writes nothing new."""
        offsets = batch.commit_offsets()
        commit = _within(self.commit_hang_after, self.consumer.commit)
        try:
            retrying(lambda: commit(offsets=offsets, asynchronous=False), 60)
        except KafkaException as exc:
            log.warning("offset commit failed; the batch may be read again: %s", exc)
            return False
        except TimeoutError:
            self._replace_consumer(f"its offset commit not back after {self.commit_hang_after} s")
            return False
        return True

    def _check_membership(self) -> None:
        """A consumer out of its group (no member id: a session expired, or never joined)
        for rejoin_within seconds is replaced."""
        if self.consumer.memberid() is not None:
            self._outside_since = None
        elif self._outside_since is None:
            self._outside_since = time.monotonic()
        elif time.monotonic() - self._outside_since > self.rejoin_within:
            self._replace_consumer(f"out of the consumer group for {self.rejoin_within} s")

    def _replace_consumer(self, why: str) -> None:
        log.error("Kafka consumer %s: left behind, a new one joins the group", why)
        status.CONSUMERS_REPLACED.inc()
        left = self.consumer
        threading.Thread(target=left.close, daemon=True, name="sink-left-consumer").start()
        self.consumer = self._new_consumer()
        self._outside_since = None
        self._subscribe()

    def _observe_lag(self) -> None:
        lag: dict[str, int] = defaultdict(int)
        for tp in self.consumer.assignment():
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            position = self.consumer.position([tp])[0].offset
            if high >= 0 and position >= 0:
                lag[tp.topic] += max(high - position, 0)
        for topic, behind in lag.items():
            status.LAG.labels(topic).set(behind)

    def _write(self, batch: Batch) -> bool:
        backoff = 0.5
        while True:
            try:
                with status.BATCH_SECONDS.time():
                    for table, table_rows in batch.rows.items():
                        self._insert(table, table_rows, batch.dedup_token(table))
                    if self.refresh_rollups:  # after the inserts, before the commit
                        self.refresh_rollups(self.client, batch.rows)
                break
            except Exception as exc:  # any failure of the store is retried
                log.warning("ClickHouse insert failed, retrying in %.1fs: %s", backoff, exc)
                status.FAILURES.inc()
                status.PAUSED.set(1)
                self.healthy = False
                self.consumer.pause(self.consumer.assignment())
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline:
                    self.consumer.poll(0.1)  # keeps group membership, serves rebalances
                self._observe_lag()
                self.consumer.resume(self.consumer.assignment())
                if self._revoked & set(batch.ranges):
                    log.warning("partitions revoked during retry; the new owner re-reads them")
                    return False
                backoff = min(backoff * 2, self.max_backoff)
        status.PAUSED.set(0)
        status.BATCHES.inc()
        status.LAST_SUCCESS.set_to_current_time()
        for table, table_rows in batch.rows.items():
            status.ROWS.labels(table).inc(len(table_rows))
        self.healthy = True
        return True

    def _insert(self, table: str, table_rows: list[dict], token: str) -> None:
        columns = list(table_rows[0])
        self.client.insert(
            table,
            [[row[c] for c in columns] for row in table_rows],
            column_names=columns,
            settings={"insert_deduplication_token": token},
        )


def _within(seconds: float, call: Callable) -> Callable:
    """call, run in a daemon thread (one that never returns does not hold up the process's
    exit), raising TimeoutError if it has not returned after `seconds`."""

    def bounded(*args, **kwargs):
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(call(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True, name="sink-commit").start()
        return future.result(timeout=seconds)

    return bounded


def pipeline_mappers(serde: AvroSerde, topic_prefix: str) -> dict[str, RowMapper]:
    """The topics the sink reads (streams.topics.SINK_SOURCES) and the rows a message becomes."""
    by_topic = {
        ACCEPTED_EVENTS: lambda m, event_type, record: row_mapping.event_rows(
            event_type, record, m.topic(), m.partition(), m.offset(), m.key()
        ),
        INVENTORY_MOVEMENTS: lambda m, _, record: row_mapping.movement_rows(record),
        STOCK_SIGNALS: lambda m, _, record: [row_mapping.signal_row(record)],
        ORDER_UPDATES: lambda m, _, record: row_mapping.order_update_rows(record),
        ALLOCATIONS: lambda m, _, record: [row_mapping.allocation_row(record)],
        NOTIFICATIONS: lambda m, _, record: [row_mapping.notification_row(record)],
        DELIVERY_EXCEPTIONS: lambda m, _, record: [row_mapping.delivery_exception_row(record)],
        SHIPMENTS: lambda m, _, record: [row_mapping.shipment_row(record)],
        SHIPMENT_STATUS: lambda m, _, record: [row_mapping.shipment_row(record)],
        DEAD_LETTERS: lambda m, _, record: [row_mapping.dead_letter_row(record)],
    }

    def decoded(spec: TopicSpec, rows_of) -> RowMapper:
        def mapper(message: Message) -> list[tuple[str, dict]]:
            try:
                event_type, record = serde.decode(message.value())
            except DecodeError as exc:  # the worker wrote it; only a lost schema gets here
                return [_sink_dead_letter(message, f"sink could not decode: {exc}")]
            if event_type not in spec.event_types:  # a row mapper would fail on its fields
                error = f"sink got {event_type} on a topic of {', '.join(spec.event_types)}"
                return [_sink_dead_letter(message, error, event_type)]
            return rows_of(message, event_type, record)

        return mapper

    return {spec.name(topic_prefix): decoded(spec, rows_of) for spec, rows_of in by_topic.items()}


def _sink_dead_letter(
    message: Message, error: str, event_type: str | None = None
) -> tuple[str, dict]:
    _, timestamp_ms = message.timestamp()
    return row_mapping.dead_letter_row(
        {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "error": error,
            "event_type": event_type,
            "key": message.key(),
            "received_at": datetime.fromtimestamp(max(timestamp_ms, 0) / 1000, UTC),
        }
    )
