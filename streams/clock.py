"""The pipeline's event-time clock and the timers that run on it.

The clock is the latest event time the inputs have reached (events.md, "Time"). A worker
that sees it pass a tick boundary broadcasts a ClockTick to every partition of the clock
topic, which is partitioned like the order topics; so each order partition learns the time
even when no order event lands on it, and fires its due timers in the context of one of its
own messages (Faust writes table changes to the changelog partition of the message being
processed, so a timer must run on its order's partition).

Timers live in the orders themselves (durable, in the table); the due-time queues here are
an in-memory index over them, rebuilt from the table after every rebalance. The time each
partition's clock reached is durable too, as the last tick it processed (LastTicks).
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import faust

from schemas.canonical import EPOCH, format_timestamp, parse_timestamp
from schemas.serde import AvroSerde
from streams.topics import CLOCK_TICKS_TABLE


def tick_of(at: datetime, tick: timedelta) -> datetime:
    """The tick boundary at or before an event time."""
    return EPOCH + ((at - EPOCH) // tick) * tick


class ClockBroadcaster:
    def __init__(
        self, topic: faust.TopicT, partitions: int, tick: timedelta, serde: AvroSerde
    ) -> None:
        self.topic = topic
        self.partitions = partitions
        self.tick = tick
        self.serde = serde
        self.reached: datetime | None = None

    async def observe(self, occurred_at: datetime) -> None:
        tick = tick_of(occurred_at, self.tick)
        if self.reached is not None and tick <= self.reached:
            return
        self.reached = tick
        value = self.serde.encode("ClockTick", {"occurred_at": tick})
        for partition in range(self.partitions):
            await self.topic.send(
                key=str(partition).encode(), value=value, partition=partition, force=True
            )


Timer = tuple[datetime, str, str]  # (due, order id, kind)


class TimerQueues:
    """Due timers per order partition, soonest first."""

    def __init__(self) -> None:
        self._queues: dict[int, list[Timer]] | None = None
        self._scheduled: set[Timer] = set()

    def forget(self) -> None:
        """After a rebalance: the table is the truth again."""
        self._queues = None
        self._scheduled.clear()

    def rebuild(self, timers: Iterable[tuple[int, Timer]]) -> None:
        if self._queues is not None:
            return
        self._queues = {}
        for partition, timer in timers:
            self.push(partition, *timer)

    def push(self, partition: int, due: datetime, order_id: str, kind: str) -> None:
        timer = (due, order_id, kind)
        if self._queues is None or timer in self._scheduled:
            return  # not built yet: the rebuild reads it from the table
        self._scheduled.add(timer)
        heapq.heappush(self._queues.setdefault(partition, []), timer)

    def pop_due(self, partition: int, now: datetime) -> list[Timer]:
        queue = (self._queues or {}).get(partition, [])
        due = []
        while queue and queue[0][0] <= now:
            timer = heapq.heappop(queue)
            self._scheduled.discard(timer)
            due.append(timer)
        return due


# (stored table value) -> its timers as (due, kind); (key, kind, due) -> fires one timer
TimersOf = Callable[[dict], Iterable[tuple[datetime, str]]]
Fire = Callable[[str, str, datetime], Awaitable[None]]


class EventClock:
    """The event-time clock of each partition of one table, and the table's due timers.

    `advance` is called with the event time of every message of a partition (and with the
    clock ticks); it fires, in due order, the timers the clock passed. The table's values
    hold their timers (durable); the queues are rebuilt from the table after a rebalance,
    and a partition's clock starts from its last tick (`recall`, set by
    register_clock_agent).
    """

    def __init__(self, table, partition_of: Callable[[dict], int], timers_of: TimersOf, fire: Fire):
        self.table = table
        self.partition_of = partition_of
        self.timers_of = timers_of
        self.fire = fire
        self.queues = TimerQueues()
        self.reached: dict[int, datetime] = {}
        self.recall: Callable[[int], datetime | None] = lambda _partition: None

    def forget(self) -> None:
        self.queues.forget()
        self.reached.clear()

    def schedule(self, partition: int, key: str, stored: dict) -> None:
        for due, kind in self.timers_of(stored):
            self.queues.push(partition, due, key, kind)

    async def advance(self, partition: int, now: datetime | None = None) -> None:
        """Moves the partition's clock to `now` (never back; None: stays) and fires what
        became due, including timers scheduled behind a clock that had already passed."""
        reached = self.reached.get(partition) or self.recall(partition)
        if now is None or (reached is not None and now <= reached):
            now = reached
        if now is None:
            return
        self.reached[partition] = now
        self.queues.rebuild(
            (self.partition_of(stored), (due, key, kind))
            for key, stored in self.table.items()
            for due, kind in self.timers_of(stored)
        )
        for due, key, kind in self.queues.pop_due(partition, now):
            await self.fire(key, kind, due)


class LastTicks:
    """The last tick each clock partition processed, in a table (so in its changelog,
    partition for partition). A worker that takes a partition over starts its clock there:
    starting from nothing, the timers its old owner's clock had passed would wait for the
    next tick, and with no more input for ever."""

    def __init__(self, app: faust.App) -> None:
        self.table = app.Table(CLOCK_TICKS_TABLE, key_type=str, value_type=str, default=None)

    def recall(self, partition: int) -> datetime | None:
        """Read in the context of a message of the partition (Faust looks a key up in the
        current message's partition of the table)."""
        stored = self.table.get(str(partition))
        return parse_timestamp(stored) if stored else None

    def remember(self, partition: int, tick: datetime) -> None:
        """Called while processing that partition's tick, so the value lands in that
        partition of the changelog. Only forward: a restarted worker's broadcaster sends
        the tick of the first event it sees, which may be behind the one kept."""
        kept = self.recall(partition)
        if kept is None or tick > kept:
            self.table[str(partition)] = format_timestamp(tick)


def register_clock_agent(app: faust.App, topic: faust.TopicT, serde: AvroSerde, clocks) -> None:
    """The agent that moves every EventClock with the ticks (remembering the last, for the
    partition's next owner), and forgets the timer queues when partitions move."""
    last_ticks = LastTicks(app)
    for clock in clocks:
        clock.recall = last_ticks.recall

    async def clock_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            _, tick = serde.decode(event.message.value)
            partition = event.message.partition
            for clock in clocks:
                await clock.advance(partition, tick["occurred_at"])
            last_ticks.remember(partition, tick["occurred_at"])

    async def forget(*_args, **_kwargs) -> None:
        for clock in clocks:
            clock.forget()

    app.on_partitions_revoked.connect(forget)
    app.on_partitions_assigned.connect(forget)
    app.agent(topic, name="clock")(clock_agent)


def partition_of_source(source: str) -> int:
    """The partition of a "topic:partition" source."""
    return int(source.rsplit(":", 1)[1])
