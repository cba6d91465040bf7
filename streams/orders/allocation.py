"""Zone-skipping allocation: which shipping locations fill which order lines. Pure rules.

The routing retailers use, in order: (a) one shipment if any shipping location can fill
every line; (b) among those, the nearest to the shipping address (great-circle distance);
(c) otherwise split across as few locations as possible, nearest first; (d) what no
location can fill is backordered. Fewest locations is a set-cover problem; the greedy
choice (the location that fills the most outstanding units, the nearer on ties) is the
standard answer and is what this module does. A line may be split across locations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Site:
    location_id: str
    latitude: float
    longitude: float
    ships_orders: bool = True


@dataclass(frozen=True)
class Need:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class Assignment:
    line_id: str
    sku: str
    location_id: str | None  # None: backordered
    quantity: int


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def plan(
    needs: list[Need],
    destination: tuple[float, float],
    sites: list[Site],
    available: Mapping[tuple[str, str], int],
) -> list[Assignment]:
    """available: (sku, location_id) -> units available now (a snapshot; reservations at the
    SKU owners decide, and a refused one makes the caller plan again with fresher numbers).
    An oversold location can report less than nothing: that is nothing to plan with."""
    available = {key: max(units, 0) for key, units in available.items()}
    by_distance = sorted(
        (s for s in sites if s.ships_orders),
        key=lambda s: (great_circle_km(*destination, s.latitude, s.longitude), s.location_id),
    )
    for site in by_distance:  # (a) + (b)
        if all(available.get((n.sku, site.location_id), 0) >= n.quantity for n in needs):
            return [Assignment(n.line_id, n.sku, site.location_id, n.quantity) for n in needs]
    return _split(needs, by_distance, available)


def _split(
    needs: list[Need], by_distance: list[Site], available: dict[tuple[str, str], int]
) -> list[Assignment]:
    outstanding = {n.line_id: n.quantity for n in needs}
    sku_of = {n.line_id: n.sku for n in needs}
    assignments: list[Assignment] = []
    candidates = list(by_distance)
    while candidates and any(outstanding.values()):

        def fillable(site: Site) -> int:
            return sum(
                min(left, available.get((sku_of[line], site.location_id), 0))
                for line, left in outstanding.items()
            )

        best = max(candidates, key=lambda s: (fillable(s), -candidates.index(s)))
        if fillable(best) == 0:
            break
        candidates.remove(best)
        for line, left in outstanding.items():
            key = (sku_of[line], best.location_id)
            taken = min(left, available.get(key, 0))
            if taken:
                assignments.append(Assignment(line, sku_of[line], best.location_id, taken))
                available[key] -= taken
                outstanding[line] -= taken
    assignments += [
        Assignment(line, sku_of[line], None, left) for line, left in outstanding.items() if left
    ]
    return assignments
