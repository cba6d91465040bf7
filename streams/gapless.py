"""RocksDB table partitions whose persisted changelog offset never skips a record.

A table partition's database keeps the offset of the last changelog record it holds, and
recovery replays the changelog only after it. Faust (at-least-once) sets that offset to the
offset of each of the worker's own changelog writes once the broker acknowledges it,
assuming the worker holds every record before it. A write that lands after another
worker's records breaks that: a message still in flight when its partition was revoked, or
a worker that lost its group membership and went on (a zombie). Its database then claims
records it never applied, and when the worker (restarted in place, or given the partition
back) recovers, it skips them for good. Under `oms chaos` a worker so recovered still held
an order on hold that another worker had cancelled, fired its hold timer and allocated it.

Here an acknowledged write moves the persisted offset only when it is the very next
record; otherwise the offset stays where the database is known to be whole, and the next
recovery replays the records in between (its own among them). Replays themselves read
every record in order, so they move it to the last record read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from faust.stores import STORES
from faust.stores.rocksdb import Store
from faust.types import TP, EventT

log = logging.getLogger(__name__)

STORE_SCHEME = "rocksdb-gapless"


def last_offsets(events: Iterable[EventT]) -> dict[TP, int]:
    last: dict[TP, int] = {}
    for event in events:
        tp, offset = event.message.tp, event.message.offset
        last[tp] = max(offset, last.get(tp, -1))
    return last


def follows(persisted: int | None, offset: int) -> bool:
    """Whether an acknowledged write at `offset` is the record right after `persisted`."""
    return offset == (-1 if persisted is None else persisted) + 1


class GaplessStore(Store):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._acknowledged: dict[TP, int] = {}  # the last acknowledged own write
        self._replaying = False

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        """Faust's callback for an acknowledged changelog write of this worker (and its
        replay's, ignored: apply_changelog_batch sets the offset)."""
        if self._replaying:
            return
        persisted = self.persisted_offset(tp)
        previous = self._acknowledged.get(tp, persisted)
        self._acknowledged[tp] = offset
        if follows(persisted, offset):
            super().set_persisted_offset(tp, offset)
        elif not follows(previous, offset):
            log.warning(
                "%s: changelog offset %s follows records this worker did not apply; "
                "its database stays at offset %s, and its next recovery replays them",
                tp,
                offset,
                persisted,
            )

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
