"""A table partition's RocksDB database holds what its changelog holds (real RocksDB)."""

import weakref
from types import SimpleNamespace

import faust
import pytest
from faust.streams import _current_event
from faust.types import TP

from streams.gapless import STORE_SCHEME, GaplessStore, follows
from streams.versioned import VersionedStore, versioned_table

CHANGELOG = TP("gapless-test-ledger-changelog", 0)


@pytest.fixture
def store(tmp_path):
    app = faust.App("gapless-test", datadir=str(tmp_path), store=f"{STORE_SCHEME}://")
    return app.Table("ledger", key_type=str, value_type=str, default=None).data


def record(offset: int, key: bytes = b"k", value: bytes | None = b"v"):
    message = SimpleNamespace(
        tp=CHANGELOG, partition=CHANGELOG.partition, offset=offset, key=key, value=value
    )
    return SimpleNamespace(message=message)


class Processing(SimpleNamespace):
    """A stand-in for the event Faust is processing (weakly referenced, as Faust does)."""

    def __init__(self, message) -> None:
        super().__init__(message=message)


@pytest.fixture
def processing():
    """As if a message of the changelog's partition were being processed."""
    event = Processing(record(-1).message)
    token = _current_event.set(weakref.ref(event))
    yield event
    _current_event.reset(token)


def replay(store, *records) -> None:
    store.apply_changelog_batch(records, to_key=None, to_value=None)


def on_disk(store, key: bytes = b"k") -> bytes | None:
    return store._db_for_partition(CHANGELOG.partition).get(key)


def test_a_change_reaches_rocksdb_with_its_acknowledged_changelog_offset(store, processing):
    store._set(b"k", b"v1")
    assert store._get(b"k") == b"v1" and on_disk(store) is None
    store.set_persisted_offset(CHANGELOG, 0)  # the broker acknowledged its record
    assert on_disk(store) == b"v1" and store.persisted_offset(CHANGELOG) == 0


def test_a_change_whose_record_was_never_acknowledged_is_not_on_disk(store, processing):
    """A worker SIGKILLed before its changelog record went out: restarted on its own disk,
    it must not go on from a change that no changelog (and no output) has."""
    replay(store, record(0, b"k", b"v1"))
    store._set(b"k", b"v2")
    store._set(b"other", b"w")
    store.set_persisted_offset(CHANGELOG, 1)  # acknowledges v2 only
    assert on_disk(store) == b"v2" and on_disk(store, b"other") is None
    assert store.persisted_offset(CHANGELOG) == 1


def test_reads_see_waiting_changes_and_deletions(store, processing):
    replay(store, record(0, b"a", b"1"), record(1, b"b", b"2"))
    store._set(b"a", b"1b")
    store._set(b"c", b"3")
    store._del(b"b")
    assert store._get(b"b") is None and not store._contains(b"b") and store._contains(b"c")
    store.table.app.assignor.assigned_actives = lambda: {TP(store.table.changelog_topic_name, 0)}
    assert dict(store._iteritems()) == {b"a": b"1b", b"c": b"3"}
    for offset in (2, 3, 4):
        store.set_persisted_offset(CHANGELOG, offset)
    assert on_disk(store, b"b") is None and dict(store._iteritems()) == {b"a": b"1b", b"c": b"3"}


def test_acknowledged_writes_move_the_offset_one_record_at_a_time(store, processing):
    for offset in (0, 1, 2):
        store._set(b"k", str(offset).encode())
        store.set_persisted_offset(CHANGELOG, offset)
    assert store.persisted_offset(CHANGELOG) == 2 and on_disk(store) == b"2"


def test_a_write_after_records_of_another_worker_leaves_the_offset_where_the_database_is_whole(
    store, processing
):
    """A worker that lost its membership went on: its write lands after the new owner's
    records. Its recovery must replay those records, not start after its own write."""
    replay(store, record(0), record(1))
    for offset in (5, 6):
        store._set(b"mine", b"x")
        store.set_persisted_offset(CHANGELOG, offset)
    assert store.persisted_offset(CHANGELOG) == 1 and on_disk(store, b"mine") == b"x"


def test_an_acknowledgement_a_replay_already_covered_changes_nothing(store, processing):
    store._set(b"k", b"old")
    replay(store, record(0, b"k", b"old"), record(1, b"k", b"newer"))
    store.set_persisted_offset(CHANGELOG, 0)
    assert on_disk(store) == b"newer" and store._get(b"k") == b"newer"
    assert store.persisted_offset(CHANGELOG) == 1


def test_a_replay_moves_the_offset_to_its_last_record_over_compacted_gaps(store, processing):
    replay(store, record(3, b"a"), record(7, b"b"), record(8, b"a", b"w"))
    assert store.persisted_offset(CHANGELOG) == 8 and on_disk(store, b"a") == b"w"
    store._set(b"a", b"next")
    store.set_persisted_offset(CHANGELOG, 9)  # the worker's next own write
    assert store.persisted_offset(CHANGELOG) == 9


def test_versioned_tables_get_their_own_store_with_the_same_rules(tmp_path):
    app = faust.App("versioned-test", datadir=str(tmp_path), store=f"{STORE_SCHEME}://")
    data = versioned_table(app, "orders").data
    assert isinstance(data, VersionedStore) and isinstance(data, GaplessStore)
    assert data.partition_path(0).name == "orders-0.db"


def test_follows():
    assert follows(None, 0) and follows(4, 5)
    assert not follows(None, 1) and not follows(4, 4) and not follows(4, 6)
