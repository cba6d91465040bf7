"""The worker's local table state (RocksDB) is trusted only after a clean shutdown.

The worker runs with Kafka transactions (exactly-once processing): a table's changelog
records, the events it emits and its input offsets commit together or not at all. RocksDB,
though, is written as events are processed, so after a crash it can hold writes of a
transaction that was aborted. Those would be applied twice when the events are processed
again. So a worker that did not stop cleanly drops its local state and recovers its tables
from the committed changelog; one that did (a deploy, a scale-down) starts where it was.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

_MARKER = "clean-shutdown"


def open_local_state(table_dir: Path) -> None:
    marker = table_dir.parent / _MARKER
    if marker.exists():
        marker.unlink()
    elif table_dir.exists():
        log.warning("no clean shutdown recorded: recovering tables from their changelogs")
        shutil.rmtree(table_dir)


def record_clean_shutdown(table_dir: Path) -> None:
    table_dir.parent.mkdir(parents=True, exist_ok=True)
    (table_dir.parent / _MARKER).touch()
