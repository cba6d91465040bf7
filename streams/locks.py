"""One change at a time per key, across the agents of a worker.

Several agents change the same table value (a SKU's stock from inventory events and from
stock commands; an order from order events, fulfillment, stock replies and its timers), and
each change awaits the producer between reading the value and storing it. Without a lock two
agents interleave there and the second store loses the first change; and a reply could be
read before the state that expects it is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # nobody holds or waits: forget it
                del self._users[key], self._locks[key]
