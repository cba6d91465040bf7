"""Faust's Kafka transport, with five corrections: the fetch long poll as a setting, a
commit that never passes a message no agent acknowledged, commits of owned partitions only
(Consumer._filter_tps_with_pending_acks says why), commits only after the changelog records
sent before them are acknowledged (streams.gapless says why), and table recovery that
survives a changelog position below -1.

Faust builds aiokafka's consumer with fetch_max_wait_ms=1500 and no option to change it.
aiokafka keeps at most one fetch in flight per broker, holding only the partitions that had
nothing buffered when it was sent; a partition the worker drains meanwhile is fetched again
only when that fetch returns, which on quiet partitions is the whole long poll. With one
broker that put up to 1.5 s between a stock command and its reply: the waits of a paced
replay had a p99 of 1.6 s. A shorter poll costs a few idle fetch requests a second.

Faust commits the first run of consecutive acknowledged offsets of a partition, and lets
that run start one past the committed offset (faust-streaming 0.15.3, Consumer._new_offset:
it refuses only when `min(acked) - committed > 1`; its fetch loop has the same tolerance,
`gap > 1`, right after a seek). So when the message at the committed offset never reaches
an agent, which happened after rebalances in which a worker restarted on its own disk, the
next commit steps over it and the message is lost: `oms chaos --empty-disk-every 0` lost a
receipt, an order's stock replies and a whole input event that way. The consumer below
commits nothing of such a partition and reads it again from the committed offset; what was
processed already is a duplicate there (intake de-duplication, streams.applied).

faust-streaming's recovery seeks each changelog partition to the position its disk holds,
mapping "nothing" (-1) to 0 but passing anything lower on to aiokafka, which refuses it
(ValueError: Offset must be a positive integer) and so crashed the worker: twice in four
`oms chaos --empty-disk-every 0` runs, on a worker restarted in its own data directory.
Below 0 means nothing to keep: reading starts at the beginning, as for -1 (a changelog
read again from its start rewrites each key's latest value, which changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streams import metrics
from streams.gapless import changelog_settled

log = logging.getLogger(__name__)

REREAD_GRACE = 2.0  # seconds


def head_unacknowledged(acked: Collection[int], committed: int | None, gap_at_head: bool) -> bool:
    """Whether the partition's acknowledged offsets start past its committed offset (the
    next to read), which no gap Faust noted (offsets a compacted or transactional topic
    has not) accounts for: its next commit would pass an unprocessed message."""
    return bool(acked) and committed is not None and not gap_at_head and min(acked) > committed


def worker_transport(fetch_max_wait_ms: int) -> type[driver.Transport]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when its fetcher starts
            return consumer

        async def _seek_wait(self, consumer, partitions) -> None:
            positions = {tp: max(offset, 0) for tp, offset in partitions.items()}
            await super()._seek_wait(consumer, positions)

    class Consumer(driver.Consumer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._rereading: dict[TP, asyncio.Future] = {}  # the seeks back under way

        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        def _filter_tps_with_pending_acks(self, topics=None) -> list[TP]:
            """Only partitions this worker owns: a message of a revoked partition finished
            after the revocation leaves an acknowledgement behind, and aiokafka refuses a
            whole commit that names a partition it is not assigned. Forgetting it costs
            nothing: the partition's owner reads that message again."""
            pending = list(super()._filter_tps_with_pending_acks(topics))
            owned = self.assignment()
            for tp in pending:
                if tp not in owned:
                    for bookkeeping in (self._acked, self._acked_index, self._gap):
                        bookkeeping.pop(tp, None)
            return [tp for tp in pending if tp in owned]

        async def _commit(self, offsets) -> bool:
            if not await changelog_settled():
                log.warning("changelog records still unacknowledged: nothing committed now")
                return False
            return await super()._commit(offsets)

        def _new_offset(self, tp: TP) -> int | None:
            committed = self._committed_offset[tp]
            gap_at_head = committed is not None and bool(self._gap[tp].at(committed))
            if not head_unacknowledged(self._acked[tp], committed, gap_at_head):
                return super()._new_offset(tp)
            if tp not in self._rereading:
                reading = self._read_again(tp, committed)
                self._rereading[tp] = asyncio.ensure_future(reading, loop=self.loop)
            return None

        async def _read_again(self, tp: TP, offset: int) -> None:
            """Seeks back, then lets the partition be read for REREAD_GRACE before a commit
            that still finds the message missing seeks again (records Faust fetched before
            the seek can overtake it once more)."""
            log.warning(
                "%s:%s: offset %s was never acknowledged but later ones were; "
                "reading the partition again from it",
                tp.topic,
                tp.partition,
                offset,
            )
            metrics.PARTITIONS_REREAD.labels(tp.topic.rpartition(".")[2]).inc()
            try:
                await self.seek(tp, offset)
                await asyncio.sleep(REREAD_GRACE)
            except Exception as exc:  # revoked meanwhile: its new owner reads it
                log.warning("%s:%s: not read again: %r", tp.topic, tp.partition, exc)
            finally:
                self._rereading.pop(tp, None)

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport
