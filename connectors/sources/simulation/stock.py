"""The simulator's own stock model: the pipeline's ledger rules (streams/inventory/ledger.py),
mirrored so that the simulated warehouses ship from where the pipeline reserved.

On hand and reserved per SKU x location; backordered lines wait per SKU, ranked by when
they were backordered, and every change at a shipping location that leaves units available
fills them there, oldest first, as the SKU owner does.
"""

from __future__ import annotations

from collections import defaultdict

Fill = tuple[str, str, str, int]  # order_id, line_id, location_id, units reserved


class StockModel:
    def __init__(self, shipping: set[str]) -> None:
        self.shipping = shipping
        self.on_hand: dict[tuple[str, str], int] = defaultdict(int)
        self.reserved: dict[tuple[str, str], int] = defaultdict(int)
        # sku -> (order_id, line_id) -> [rank (ms), units]; insertion order breaks ties
        self.waiting: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(dict)

    def available(self, sku: str, location_id: str) -> int:
        key = (sku, location_id)
        return self.on_hand[key] - self.reserved[key]

    def waiting_units(self, sku: str) -> int:
        return sum(units for _, units in self.waiting[sku].values())

    # --- inventory events ----------------------------------------------------------------
    def receive(self, sku: str, location_id: str, units: int) -> list[Fill]:
        self.on_hand[(sku, location_id)] += units
        return self._fill(sku, location_id)

    def adjust(self, sku: str, location_id: str, delta: int) -> list[Fill]:
        self.on_hand[(sku, location_id)] += delta
        return self._fill(sku, location_id)

    def count(self, sku: str, location_id: str, counted: int) -> list[Fill]:
        if counted == self.on_hand[(sku, location_id)]:
            return []  # no movement, nothing touched
        self.on_hand[(sku, location_id)] = counted
        return self._fill(sku, location_id)

    def transfer(self, sku: str, source: str, destination: str, units: int) -> list[Fill]:
        self.on_hand[(sku, source)] -= units
        self.on_hand[(sku, destination)] += units
        return self._fill(sku, source) + self._fill(sku, destination)

    # --- order commands ------------------------------------------------------------------
    def reserve(self, sku: str, location_id: str, units: int) -> None:
        if self.available(sku, location_id) < units:
            raise ValueError(f"{sku}@{location_id}: reserving {units} beyond what is available")
        self.reserved[(sku, location_id)] += units

    def release(self, sku: str, location_id: str, units: int) -> list[Fill]:
        self.reserved[(sku, location_id)] -= units
        return self._fill(sku, location_id)

    def consume(self, sku: str, location_id: str, units: int) -> list[Fill]:
        """A shipment of reserved units."""
        self.reserved[(sku, location_id)] -= units
        self.on_hand[(sku, location_id)] -= units
        return self._fill(sku, location_id)

    def backorder(self, sku: str, order_id: str, line_id: str, units: int, rank: int) -> None:
        waiting = self.waiting[sku].get((order_id, line_id))
        if waiting:
            waiting[0], waiting[1] = min(waiting[0], rank), waiting[1] + units
        else:
            self.waiting[sku][(order_id, line_id)] = [rank, units]

    def withdraw(self, sku: str, order_id: str, line_id: str) -> None:
        self.waiting[sku].pop((order_id, line_id), None)

    def _fill(self, sku: str, location_id: str) -> list[Fill]:
        waiting = self.waiting.get(sku)
        if not waiting or location_id not in self.shipping:
            return []
        fills = []
        for key, entry in sorted(waiting.items(), key=lambda kv: kv[1][0]):
            available = self.available(sku, location_id)
            if available <= 0:
                break
            taken = min(available, entry[1])
            self.reserved[(sku, location_id)] += taken
            fills.append((*key, location_id, taken))
            if entry[1] > taken:
                entry[1] -= taken
            else:
                del waiting[key]
        return fills
