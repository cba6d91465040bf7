"""RocksDB table partitions that hold what their changelog holds: no write the changelog lost,
no record skipped.

A table partition's database keeps the offset of the last changelog record it holds, and
recovery replays only what follows it. Faust (at-least-once) breaks that two ways, both
seen under `oms chaos` with workers restarted on their own disks:

- It writes a table change to RocksDB at once, and sends its changelog record later. A
  worker SIGKILLed in between keeps a change that no changelog, and no output, ever got;
  restarted in place it goes on from it. An order whose fraud hold a worker released that
  way was picked and shipped without its `Allocated` update or its reservations.
- It sets the offset to that of each of the worker's own changelog writes the broker
  acknowledges, as if the worker held every record before it. A write that lands after
  another worker's records (a worker that lost its group membership and went on) makes the
  database claim records it never applied, and its next recovery skips them for good. A
  worker so recovered still held an order on hold that another had cancelled, and
  allocated it.

Here a change waits in memory (where the table's reads find it) until the broker
acknowledges its changelog record; then it goes to RocksDB together with that record's
offset, in one write batch. The offset moves only to the very next record: after a gap it
stays where the database is whole (a warning names the partition) and the next recovery
replays what follows, the worker's own records among them. A replay reads every record
in order, so it moves the offset to the last record read.

A changelog record the broker refuses for good (too large, not authorized, the producer's
request timeout run out) is only logged by Faust (`Topic._on_published` never calls the
table back), and its message's offset is committed all the same: the change would live in
this worker alone, and the next acknowledgement would be paired with it. So the worker
stops at once, as a SIGKILL would, committing nothing more (`GaplessTable`), and each
commit first waits for the changelog records sent before it (`changelog_settled`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator

import faust
from faust.stores import STORES
from faust.stores.rocksdb import Store
from faust.streams import current_event
from faust.types import TP, EventT, FutureMessage
from rocksdict import WriteBatch

log = logging.getLogger(__name__)

STORE_SCHEME = "rocksdb-gapless"

Write = tuple[bytes, bytes | None]  # (key, value; None: deleted)
ABSENT = object()
EXIT_CHANGELOG_REFUSED = 70  # EX_SOFTWARE
SETTLE_TIMEOUT = 30.0  # seconds a commit waits for changelog records before it gives up

# this process's changelog records the broker has neither acknowledged nor refused yet
_unsettled: set[FutureMessage] = set()


def last_offsets(events: Iterable[EventT]) -> dict[TP, int]:
    last: dict[TP, int] = {}
    for event in events:
        tp, offset = event.message.tp, event.message.offset
        last[tp] = max(offset, last.get(tp, -1))
    return last


def follows(persisted: int | None, offset: int) -> bool:
    """Whether an acknowledged write at `offset` is the record right after `persisted`."""
    return offset == (-1 if persisted is None else persisted) + 1


class Unacknowledged:
    """One partition's changes whose changelog records the broker has not acknowledged yet,
    in the order they were sent (acknowledgements come in that order)."""

    def __init__(self) -> None:
        self.sent: deque[Write] = deque()
        self.latest: dict[bytes, tuple[bytes | None, int]] = {}  # key -> (value, writes)

    def add(self, key: bytes, value: bytes | None) -> None:
        self.sent.append((key, value))
        self.latest[key] = (value, self.latest.get(key, (None, 0))[1] + 1)

    def acknowledged(self) -> Write | None:
        """The oldest change, now in the changelog (None: nothing was waiting)."""
        if not self.sent:
            return None
        key, value = self.sent.popleft()
        latest, writes = self.latest[key]
        if writes == 1:
            del self.latest[key]
        else:
            self.latest[key] = (latest, writes - 1)
        return key, value

    def get(self, key: bytes):
        """The latest value waiting for key (None: deleted), or ABSENT."""
        return self.latest[key][0] if key in self.latest else ABSENT


class GaplessTable(faust.Table):
    """A table whose worker stops at once when a changelog record of it is refused."""

    def send_changelog(self, *args, **kwargs) -> FutureMessage:
        sent = super().send_changelog(*args, **kwargs)
        _unsettled.add(sent)
        sent.add_done_callback(_settled)
        return sent


def _settled(sent: FutureMessage) -> None:
    _unsettled.discard(sent)
    refused = asyncio.CancelledError() if sent.cancelled() else sent.exception()
    if refused is not None:
        log.critical(
            "changelog record refused (%r): the worker stops now, committing nothing more, "
            "and the messages since its last commit are read again",
            refused,
        )
        os._exit(EXIT_CHANGELOG_REFUSED)


async def changelog_settled() -> bool:
    """Waits for the changelog records sent so far: acknowledged, or refused (which ends the
    worker before this returns: its callback was added first). False when some are still
    out after SETTLE_TIMEOUT: nothing may be committed this time."""
    if not _unsettled:
        return True
    _, pending = await asyncio.wait(list(_unsettled), timeout=SETTLE_TIMEOUT)
    return not pending


class GaplessStore(Store):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: defaultdict[int, Unacknowledged] = defaultdict(Unacknowledged)
        self._acknowledged: dict[TP, int] = {}  # the last acknowledged own write
        self._replaying = False

    # --- writes: held until their changelog record is acknowledged ----------------------
    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._current_partition()
        self._key_index[key] = partition
        self._waiting[partition].add(key, value)

    def _del(self, key: bytes) -> None:
        self._waiting[self._current_partition()].add(key, None)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Faust's callback for an acknowledged changelog write of this worker (and its
        replay's, ignored: apply_changelog_batch sets the offset)."""
        if self._replaying:
            return
        write = self._waiting[tp.partition].acknowledged()
        persisted = self.persisted_offset(tp)
        previous = self._acknowledged.get(tp, persisted)
        self._acknowledged[tp] = offset
        if persisted is not None and offset <= persisted:
            return  # a replay has applied it (and what followed)
        batch = WriteBatch(raw_mode=True)
        if write is not None:
            key, value = write
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if follows(persisted, offset):
            batch.put(self.offset_key, str(offset).encode())
        elif not follows(previous, offset):
            log.warning(
                "%s: changelog offset %s follows records this worker did not apply; "
                "its database stays at offset %s, and its next recovery replays them",
                tp,
                offset,
                persisted,
            )
        self._db_for_partition(tp.partition).write(batch)

    # --- reads: the waiting changes first -----------------------------------------------
    def _get(self, key: bytes) -> bytes | None:
        waiting = self._waiting_value(key)
        return super()._get(key) if waiting is ABSENT else waiting

    def _contains(self, key: bytes) -> bool:
        waiting = self._waiting_value(key)
        return super()._contains(key) if waiting is ABSENT else waiting is not None

    def _iteritems(self) -> Iterator[tuple[bytes, bytes]]:
        actives = self.app.assignor.assigned_actives()
        topic = self.table.changelog_topic_name
        for partition in sorted(set(self._dbs) | set(self._waiting)):
            if TP(topic, partition) not in actives and not self.table.is_global:
                continue
            waiting = dict(self._waiting[partition].latest)
            if partition in self._dbs:
                for key, value in self._visible_items(self._dbs[partition]):
                    if key not in waiting:
                        yield key, value
            for key, (value, _) in waiting.items():
                if value is not None:
                    yield key, value

    def _iterkeys(self) -> Iterator[bytes]:
        for key, _ in self._iteritems():
            yield key

    def _itervalues(self) -> Iterator[bytes]:
        for _, value in self._iteritems():
            yield value

    def _size(self) -> int:
        return sum(1 for _ in self._iteritems())

    def _current_partition(self) -> int:
        event = current_event()
        assert event is not None, "a table is written while processing a message"
        return event.message.partition

    def _waiting_value(self, key: bytes):
        """What a read finds among the waiting changes: of the current message's partition
        (as Faust reads), or of any partition outside a message."""
        event = current_event()
        if event is not None and not self.table.is_global and not self.table.use_partitioner:
            return self._waiting[event.message.partition].get(key)
        for waiting in self._waiting.values():
            value = waiting.get(key)
            if value is not ABSENT:
                return value
        return ABSENT

    # --- replays --------------------------------------------------------------------------
    def apply_changelog_batch(
        self, batch: Iterable[EventT], to_key: Callable, to_value: Callable
    ) -> None:
        events = list(batch)
        self._replaying = True
        try:
            super().apply_changelog_batch(self.kept(events), to_key, to_value)
        finally:
            self._replaying = False
        for tp, offset in last_offsets(events).items():
            Store.set_persisted_offset(self, tp, offset)

    def kept(self, events: list[EventT]) -> list[EventT]:
        """The changelog records of a batch to apply (all of them, here)."""
        return events


STORES.aliases.setdefault(STORE_SCHEME, f"{__name__}:GaplessStore")
