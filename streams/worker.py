"""The Faust worker with a shutdown that commits before it stops.

Faust's own stop, with transactions on, ends the transaction while agents still have
records to send, and crashes ("Can't send messages while not in transaction"). So on
SIGTERM the worker first stops fetching, lets the agents drain what they hold, and commits
(offsets, table changelogs and outputs together); only then do Faust's services stop.
"""

from __future__ import annotations

import logging

import faust

log = logging.getLogger(__name__)


class Worker(faust.Worker):
    async def on_stop(self) -> None:
        consumer = self.app.consumer
        try:
            consumer.pause_partitions(consumer.assignment())
            await consumer.wait_empty()
            await consumer.commit()
        except Exception as exc:  # the transaction aborts: the records are processed again
            log.warning("final commit failed; the next worker re-processes: %r", exc)
        await super().on_stop()
