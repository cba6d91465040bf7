"""Telling a duplicate event from a re-read of the same message after a crash.

The seen-table maps event_id -> the position (topic:partition:offset) of the message that
first carried it. The worker's transactions commit the table, its outputs and the input
offsets together, but a table can still remember a position whose outputs never left (a
local store that kept an aborted write, or a deployment without transactions). So a
message seen *at its own position* is a re-read: its outputs are published again (they are
idempotent downstream, keyed by event_id). Only the same event_id at another position is a
duplicate, which changes nothing.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    NEW = "new"
    REREAD = "reread"
    DUPLICATE = "duplicate"


def position(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def verdict(first_seen_at: str | None, here: str) -> Verdict:
    if first_seen_at is None:
        return Verdict.NEW
    return Verdict.REREAD if first_seen_at == here else Verdict.DUPLICATE
