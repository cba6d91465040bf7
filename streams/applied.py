"""How far each source partition has been applied to a table value.

A value that records the offset of the last message it absorbed from each source partition
can tell a message read again after a crash (its change is already in the value) from a
new one, so at-least-once delivery never applies a change twice.
"""

from __future__ import annotations


class AppliedOffsets:
    applied: dict[str, int]  # "topic:partition" -> the last offset applied

    def already_applied(self, source: str, offset: int) -> bool:
        """True for a message read again after a crash: its change is in this value."""
        return offset <= self.applied.get(source, -1)

    def mark_applied(self, source: str, offset: int) -> None:
        self.applied[source] = offset
