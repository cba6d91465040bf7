"""Tables of versioned values, whose changelog replay never puts an older version of a value
over a newer one.

Without transactions Faust has no fencing: a worker that has lost its group membership (its
session expired while it was starved of CPU, or while the broker restarted) goes on
processing what it had fetched until it notices, and its table writes reach the changelog
after those of the partition's new owner. Replaying a changelog keeps each key's last
record, so the next owner, or a standby, could take the older value: under `oms chaos` a
parcel's state as of its label, written again by such a worker after the owner's next
change, was what the following owner recovered, and it gave the next scan the update id of
the change it had lost. The orders, parcels and stock values carry a version that every
change increments; replaying their changelogs keeps the highest version of each key. Equal
versions are written again (the same change, made twice), and deletions always apply.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import faust
from faust.stores import STORES
from faust.types import EventT

from streams.gapless import GaplessStore

log = logging.getLogger(__name__)

STORE_SCHEME = "rocksdb-versioned"

Key = tuple[int, bytes]  # (partition, key)


def version_of(value: bytes | None) -> int | None:
    """The version of a stored JSON value (None: no value, or one without a version)."""
    if value is None:
        return None
    version = json.loads(value).get("version")
    return version if isinstance(version, int) else None


def newest(
    records: Iterable[tuple[Key, bytes | None]], stored: Callable[[Key], int | None]
) -> Iterator[bool]:
    """For each (key, value) record in changelog order, whether to apply it: not when the
    key's value, stored or applied earlier in the batch, has a higher version."""
    reached: dict[Key, int | None] = {}
    for key, value in records:
        if key not in reached:
            reached[key] = stored(key)
        version, current = version_of(value), reached[key]
        if value is None or version is None or current is None or version >= current:
            reached[key] = version
            yield True
        else:
            yield False


class VersionedStore(GaplessStore):
    def kept(self, events: list[EventT]) -> list[EventT]:
        """The records of a batch not older than their key's value (the others are read
        all the same: recovery goes on after them)."""
        records = [((e.message.partition, e.message.key), e.message.value) for e in events]
        kept = []
        for event, newer in zip(events, newest(records, self._stored_version), strict=True):
            if newer:
                kept.append(event)
            else:
                log.warning(
                    "%s: kept a newer value of %r than changelog offset %s (a record "
                    "replayed again, or written by a worker that had lost the partition)",
                    self.table_name,
                    event.message.key,
                    event.message.offset,
                )
        return kept

    def _stored_version(self, key: Key) -> int | None:
        partition, raw_key = key
        return version_of(self._db_for_partition(partition).get(raw_key))


STORES.aliases.setdefault(STORE_SCHEME, f"{__name__}:VersionedStore")


def versioned_table(app: faust.App, name: str) -> faust.Table:
    """A table of JSON values with an integer "version" (str keys, None by default).

    The store's URL names the table: Faust takes a table's own store only when its URL has
    more than a scheme (a bare "scheme://" is a false yarl URL, and the app's store wins).
    """
    return app.Table(name, key_type=str, default=None, store=f"{STORE_SCHEME}:{name}")
