"""How far each source partition has been applied to a table value, and what applying it sent.

A value records the offset of the last message it absorbed from each source partition, so a
message read again after a crash (its change already in the value) is not applied twice.
The records a message's change published are kept with the value until its offset is
committed: outputs and the value's changelog go to different partitions, and a crash can
keep the second and lose the first, so a re-read sends them again (same ids: downstream
keeps one of each) instead of losing them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

Sent = tuple[str, bytes, bytes]  # (topic, key, value)


class AppliedOffsets:
    applied: dict[str, int]  # "topic:partition" -> the last offset applied
    outbox: dict[str, list[list[str]]]  # "topic:partition:offset" -> [[topic, key, value]]

    def already_applied(self, source: str, offset: int) -> bool:
        """True for a message read again after a crash: its change is in this value."""
        return offset <= self.applied.get(source, -1)

    def mark_applied(
        self,
        source: str,
        offset: int,
        sent: Iterable[Sent] = (),
        committed: Callable[[str], int] = lambda _source: -1,
    ) -> None:
        """committed(source) is the source's committed offset: what precedes it is safe."""
        self.applied[source] = offset
        for position in list(self.outbox):
            origin, at = position.rsplit(":", 1)
            if int(at) < committed(origin):
                del self.outbox[position]
        records = [[t, k.decode(), base64.b64encode(v).decode()] for t, k, v in sent]
        if records:
            self.outbox[f"{source}:{offset}"] = records

    def unsent(self, source: str, offset: int) -> list[Sent]:
        """What the message at this position sent when it was applied (to send again)."""
        return [
            (t, k.encode(), base64.b64decode(v))
            for t, k, v in self.outbox.get(f"{source}:{offset}", ())
        ]
