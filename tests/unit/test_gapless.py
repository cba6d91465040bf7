"""The persisted changelog offset of a table partition, on a real RocksDB database."""

from types import SimpleNamespace

import faust
import pytest
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


def replay(store, *records) -> None:
    store.apply_changelog_batch(records, to_key=None, to_value=None)


def test_acknowledged_writes_move_the_offset_one_record_at_a_time(store):
    for offset in (0, 1, 2):
        store.set_persisted_offset(CHANGELOG, offset)
    assert store.persisted_offset(CHANGELOG) == 2


def test_a_write_after_records_of_another_worker_leaves_the_offset_where_the_database_is_whole(
    store,
):
    """A message in flight when its partition was revoked, written after the new owner's
    records: recovery must replay those records, not start after the late write."""
    replay(store, record(0), record(1))
    store.set_persisted_offset(CHANGELOG, 5)
    store.set_persisted_offset(CHANGELOG, 6)
    assert store.persisted_offset(CHANGELOG) == 1


def test_a_replay_moves_the_offset_to_its_last_record_over_compacted_gaps(store):
    replay(store, record(3, b"a"), record(7, b"b"), record(8, b"a", b"w"))
    assert store.persisted_offset(CHANGELOG) == 8
    assert store._db_for_partition(0).get(b"a") == b"w"
    store.set_persisted_offset(CHANGELOG, 9)  # the worker's next own write
    assert store.persisted_offset(CHANGELOG) == 9


def test_versioned_tables_get_their_own_store_with_the_same_rule(tmp_path):
    app = faust.App("versioned-test", datadir=str(tmp_path), store=f"{STORE_SCHEME}://")
    data = versioned_table(app, "orders").data
    assert isinstance(data, VersionedStore) and isinstance(data, GaplessStore)
    assert data.partition_path(0).name == "orders-0.db"


def test_follows():
    assert follows(None, 0) and follows(4, 5)
    assert not follows(None, 1) and not follows(4, 4) and not follows(4, 6)
