"""The worker's disk: its tables in RocksDB, trusted only after a clean stop.

Faust writes a table change to RocksDB at once and to its changelog topic soon after, and
records how far the changelog is persisted as the sends are acknowledged. A worker killed
in between (SIGKILL, OOM, a lost node) leaves a disk that can be ahead of its changelogs.
Restarted on that disk under `oms chaos`, workers crashed in Faust's recovery (a seek to a
negative offset) and once an order's stock replies were lost (docs/scaling.md, section 5);
rebuilt from the changelogs on an empty disk, they never did. So a worker marks its disk
while it runs, and one that finds the mark of a predecessor that never stopped cleanly
rebuilds every table from the changelogs, as on a new node.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

RUNNING = "RUNNING"  # present while a worker uses the disk; left behind by a kill


@contextmanager
def trusted_disk(datadir: Path) -> Iterator[Path]:
    """The worker's data directory, emptied first if its last user did not stop cleanly;
    marked clean again only when the worker exits with status 0."""
    mark = datadir / RUNNING
    if mark.exists():
        log.warning("%s: the last worker did not stop cleanly; rebuilding its tables", datadir)
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True, exist_ok=True)
    mark.touch()
    try:
        yield datadir
    except SystemExit as exit_:
        if exit_.code in (0, None):
            mark.unlink()
        raise
