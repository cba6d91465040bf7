"""`oms simulate`: realistic, seeded traffic for the pipeline's input topics.

A retailer with warehouses and stores across the US, a catalog with skewed popularity,
customers ordering on the web, on marketplaces and in stores, the fraud hold, allocation by
the pipeline's planner against the simulator's own stock, pick/pack/ship in working hours,
carriers scanning parcels (exceptions, failed attempts, returns, parcels gone quiet, late
and out-of-order scans), replenishment, transfers, cycle counts and adjustments. The same
seed gives the same events, ids included. See engine.py for the model.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.sources.simulation.engine import DEFAULT_START, Simulation, SimulationConfig

__all__ = [
    "DEFAULT_START",
    "Simulation",
    "SimulationConfig",
    "paced",
    "parse_duration",
    "parse_start",
    "simulate",
    "write_jsonl",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPAN = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def simulate(config: SimulationConfig) -> Iterator[dict]:
    """The canonical events, in arrival order."""
    return (event for _, event in Simulation(config).events())


def parse_duration(text: str) -> tuple[timedelta | None, int | None]:
    """ "2h", "90m", "1d12h" -> (a span of event time, None); "5000" -> (None, 5000 orders)."""
    text = text.strip().lower()
    if text.isdigit():
        return None, int(text)
    parts = _SPAN.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration (e.g. 2h, 90m, 1d12h) or a number of orders: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts)), None


def parse_start(text: str) -> datetime:
    """An ISO 8601 date or date-time (without a zone: UTC), or "now" (to the second)."""
    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def write_jsonl(events: Iterable[dict], path: Path) -> Counter:
    """One canonical event per line, in arrival order (what `oms run --events` replays)."""
    counts: Counter = Counter()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with path.open("w", encoding="utf-8") as out:
        lines = []
        for event in events:
            counts[event["type"]] += 1
            lines.append(dumps(event))
            if len(lines) >= 4096:
                out.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
    return counts


def paced(
    timed: Iterable[tuple[int, dict]],
    speed: float,
    origin_ms: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict]:
    """Events released as event time advances with wall time x speed, counted from
    origin_ms (default: the first event's time; what comes before it goes at once)."""
    started = clock()
    for arrival_ms, event in timed:
        if origin_ms is None:
            origin_ms = arrival_ms
        wait = started + (arrival_ms - origin_ms) / 1000 / speed - clock()
        if wait > 0:
            sleep(wait)
        yield event
