"""Telling a duplicate event from a re-read of the same message after a crash.

The seen-table maps topic/event_id -> the position (topic:partition:offset) of the message that
first carried it. A crash can leave the position recorded while the message's offset was
not committed, so a message seen *at its own position* is a re-read after a crash and is
processed again (its effects are idempotent: see ingest/agents.py). Only the same event_id
at another position is a duplicate, which changes nothing.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    NEW = "new"
    REREAD = "reread"
    DUPLICATE = "duplicate"


def seen_key(topic_suffix: str, record_id: str) -> str:
    """Ids are unique per topic: a stock reply carries the id of the command it answers."""
    return f"{topic_suffix}/{record_id}"


def position(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def verdict(first_seen_at: str | None, here: str) -> Verdict:
    if first_seen_at is None:
        return Verdict.NEW
    return Verdict.REREAD if first_seen_at == here else Verdict.DUPLICATE
