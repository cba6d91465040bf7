"""The simulation: one seeded discrete-event loop over event time.

Customers place orders (Poisson arrivals at the configured rate) across channels; each
order waits out the fraud hold, then the simulator allocates it with the pipeline's own
planner against its own stock model (streams.orders.allocation.plan; stock.StockModel
mirrors the ledger), so ShipmentCreated names the location that holds the units. Lines
nothing can fill wait for a replenishment; an order with a backordered line ships when it
is complete (so no parcel of it is out for delivery while a part is still to be picked).
Warehouses and ship-from-store locations pick, pack and ship within their working hours;
carriers scan the parcels (carriers.py). Stock moves by purchase orders, transfers, cycle
counts and adjustments. Orders may be cancelled during the hold or before shipment.

Events come out in arrival order: occurred_at order, except carrier scans that reach the
feed late. Everything random comes from the seed, event ids included.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from connectors.sources.simulation import carriers
from connectors.sources.simulation.calendar import (
    DAY,
    HOUR,
    MINUTE,
    add_delivery_days,
    day_text,
    local_day,
    local_hour,
    timestamp,
    to_ms,
    within_hours,
)
from connectors.sources.simulation.stock import Fill, StockModel
from connectors.sources.simulation.world import (
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LOCATIONS,
    MARKETPLACES,
    PROMISED_DAYS,
    SERVICES,
    SHIPPING_METHODS,
    STREETS,
    City,
    Location,
    Place,
    catalog,
    max_skus,
)
from connectors.sources.synthetic import order_placed
from streams.orders.allocation import Need, Site, great_circle_km, plan

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday, standard time in the US
ZIPF_EXPONENT = 1.07
LINE_COUNTS = ((1, 50), (2, 25), (3, 13), (4, 7), (5, 5))
QUANTITIES = ((1, 72), (2, 18), (3, 6), (4, 3), (6, 1))
CHANNELS = (("web", 60), ("marketplace", 28), ("pos", 12))
# per order placed: background inventory work
COUNTS_PER_ORDER = 0.05
ADJUSTMENTS_PER_ORDER = 0.025
CONSTRAINED_SKUS = 0.05  # share of SKUs (not best sellers) that start nearly out of stock
ADJUSTMENT_REASONS = (("damaged", 40), ("shrinkage", 25), ("found", 20), ("correction", 15))


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 1
    orders_per_minute: float = 5.0
    span: timedelta | None = timedelta(hours=2)  # orders are placed during this event time
    orders: int | None = None  # or: this many orders (span None)
    start: datetime = DEFAULT_START
    fraud_hold: timedelta = timedelta(hours=1)
    skus: int = 300
    finish: bool = True  # follow every order to the end of its journey, else stop at the span

    def __post_init__(self) -> None:
        if self.orders_per_minute <= 0:
            raise ValueError("orders per minute must be > 0")
        if (self.span is None) == (self.orders is None):
            raise ValueError("give either a span of event time or a number of orders")
        if self.span is not None and self.span <= timedelta(0):
            raise ValueError("the span must be positive")
        if self.orders is not None and self.orders < 1:
            raise ValueError("the number of orders must be >= 1")
        if not 1 <= self.skus <= max_skus():
            raise ValueError(f"skus must be within 1..{max_skus()}")
        if self.start.tzinfo is None:
            raise ValueError("the start needs a time zone")


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str
    name: str
    line1: str
    place: Place


@dataclass
class Order:
    order_id: str
    source: str
    placed: int
    hold_end: int
    customer: Customer
    method: str
    promised_day: int | None
    lines: list[tuple[str, str, int]]  # line_id, sku, units
    reserved: dict[str, dict[str, int]] = field(default_factory=dict)  # line -> location -> n
    waiting: dict[str, int] = field(default_factory=dict)  # line -> units backordered
    state: str = "on_hold"  # on_hold | released | shipped | cancelled


def _weighted(pairs) -> tuple[list, list[float]]:
    """(values, cumulative weights) for _pick."""
    pairs = list(pairs)
    values = [v for v, _ in pairs]
    return values, list(accumulate(w for _, w in pairs))


def _pick(rng: random.Random, table: tuple[list, list[float]]):
    values, cumulative = table
    return values[bisect(cumulative, rng.random() * cumulative[-1])]


_CHANNELS = _weighted(CHANNELS)
_MARKETPLACES = _weighted(MARKETPLACES)
_METHODS = _weighted(SHIPPING_METHODS)
_LINE_COUNTS = _weighted(LINE_COUNTS)
_QUANTITIES = _weighted(QUANTITIES)
_REASONS = _weighted(ADJUSTMENT_REASONS)


def _mean(pairs) -> float:
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self._ids = random.Random(f"oms-simulate-ids/{config.seed}")
        self.t0 = to_ms(config.start)
        self.hold = config.fraud_hold // timedelta(milliseconds=1)
        self.end = self.t0 + config.span // timedelta(milliseconds=1) if config.span else None
        self.mean_gap = MINUTE / config.orders_per_minute
        self.locations = {loc.location_id: loc for loc in LOCATIONS}
        self.sites = [
            Site(loc.location_id, loc.place.latitude, loc.place.longitude, loc.ships_orders)
            for loc in LOCATIONS
        ]
        self.shipping = [loc.location_id for loc in LOCATIONS if loc.ships_orders]
        self.warehouses = [loc.location_id for loc in LOCATIONS if loc.is_warehouse]
        self.stores = [loc for loc in LOCATIONS if not loc.is_warehouse]
        self.stock = StockModel(set(self.shipping))
        self.products = catalog(self.rng, config.skus)
        self.price = {p.sku: p.price_cents for p in self.products}
        self._skus, self._sku_cum = _weighted(
            (p.sku, 1 / (rank + 1) ** ZIPF_EXPONENT) for rank, p in enumerate(self.products)
        )
        self._city_table = _weighted((c, c.weight) for c in CITIES)
        self.stats: Counter = Counter()
        self.orders: dict[str, Order] = {}  # open orders that wait for stock
        self.customers: list[Customer] = []
        self.target: dict[tuple[str, str], int] = {}  # (sku, location) -> order-up-to level
        self.reorder: dict[tuple[str, str], int] = {}  # (sku, location) -> reorder point
        self.carried: dict[str, list[str]] = defaultdict(list)  # location -> skus
        self.home: dict[str, str] = {}  # sku -> the warehouse that orders for backorders
        self._replenishing: set[tuple[str, str]] = set()
        self._heap: list = []
        self._seq = itertools.count()
        self._numbers: Counter = Counter()
        self._placed = 0
        self._store_city = {  # where a store's customers live
            store.location_id: min(
                CITIES,
                key=lambda c, s=store.place: great_circle_km(
                    s.latitude, s.longitude, c.place.latitude, c.place.longitude
                ),
            )
            for store in self.stores
        }

    # --- the loop ------------------------------------------------------------------------
    def events(self) -> Iterator[tuple[int, dict]]:
        """(arrival ms, canonical event), in arrival order."""
        self._setup()
        heap = self._heap
        cut = not self.config.finish
        while heap:
            at, _, _, payload = heapq.heappop(heap)
            if cut and self.end is not None and at >= self.end:
                break
            if type(payload) is dict:
                payload["event_id"] = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
                self.stats[payload["type"]] += 1
                yield at, payload
            else:
                payload(at)

    def _at(self, at: int, action: Callable[[int], None], first: bool = False) -> None:
        """Runs the action at event time `at` (first: before other work at the same ms)."""
        heapq.heappush(self._heap, (at, 0 if first else 1, next(self._seq), action))

    def _emit(self, at: int, event_type: str, source: str, fields: dict) -> None:
        event = {"event_id": "", "type": event_type, "occurred_at": timestamp(at)}
        event["source"] = source
        event.update(fields)
        self._push(event, at)

    def _push(self, event: dict, arrival: int) -> None:
        heapq.heappush(self._heap, (arrival, 1, next(self._seq), event))

    def _number(self, kind: str) -> int:
        self._numbers[kind] += 1
        return self._numbers[kind]

    def _active(self, at: int) -> bool:
        """Still placing orders (background inventory work runs meanwhile)."""
        if self.end is not None:
            return at < self.end
        return self._placed < (self.config.orders or 0)

    # --- the world at the start ----------------------------------------------------------
    def _setup(self) -> None:
        at = self.t0 - 15 * MINUTE
        for loc in LOCATIONS:
            place = loc.place
            fields = {
                "location_id": loc.location_id,
                "name": loc.name,
                "kind": loc.kind,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "country": "US",
                "postal_code": place.postal_code,
                "ships_orders": loc.ships_orders,
            }
            self._emit(at, "LocationUpserted", loc.source, fields)
            at += self.rng.randint(1000, 5000)
        opening = list(self._plan_stock())
        at = self.t0 - 12 * MINUTE
        step = 10 * MINUTE // max(1, len(opening))
        for sku, location_id, units in opening:
            self.stock.receive(sku, location_id, units)
            reference = f"OB-{day_text(local_day(at, 0)).replace('-', '')}"
            fields = {"sku": sku, "location_id": location_id, "quantity": units}
            self._emit(
                at,
                "InventoryReceived",
                self.locations[location_id].source,
                fields | {"reference": reference},
            )
            at += step
        self._at(self.t0, self._place)
        self._at(self.t0 + self._gap(COUNTS_PER_ORDER), self._cycle_count)
        self._at(self.t0 + self._gap(ADJUSTMENTS_PER_ORDER), self._adjustment)

    def _plan_stock(self) -> Iterator[tuple[str, str, int]]:
        """Which locations carry which SKUs, their order-up-to levels and reorder points
        (from the expected demand each shipping location sees), and the opening stock."""
        rng = self.rng
        n = len(self.products)
        units_per_day = (
            self.config.orders_per_minute * 1440 * _mean(LINE_COUNTS) * _mean(QUANTITIES)
        )
        popularity = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(n)]
        total_popularity = sum(popularity)
        total_weight = sum(c.weight for c in CITIES)
        by_distance = {
            city.place.city: sorted(
                self.shipping,
                key=lambda loc, c=city: great_circle_km(
                    c.place.latitude, c.place.longitude, *self._xy(loc)
                ),
            )
            for city in CITIES
        }
        for rank, product in enumerate(self.products):
            sku = product.sku
            warehouses = (
                list(self.warehouses)
                if rank < 0.3 * n
                else sorted(rng.sample(self.warehouses, rng.randint(1, 3)))
            )
            stores = [s.location_id for s in self.stores if rank < 0.25 * n and rng.random() < 0.8]
            carriers_of = set(warehouses) | set(stores)
            share: Counter = Counter()
            for city in CITIES:
                nearest = next(loc for loc in by_distance[city.place.city] if loc in carriers_of)
                share[nearest] += city.weight / total_weight
            daily = units_per_day * popularity[rank] / total_popularity
            # supply-constrained (a launch, a supplier problem): little stock anywhere
            constrained = rank >= 0.1 * n and rng.random() < CONSTRAINED_SKUS
            opening = (0.0, 0.03) if constrained else (0.4, 1.05)
            self.home[sku] = max(warehouses, key=lambda w: (share[w], w))
            for location_id in warehouses + stores:
                loc = self.locations[location_id]
                demand = daily * share[location_id]
                if loc.is_warehouse:
                    target, reorder = math.ceil(demand * 8) + 3, math.ceil(demand * 2.5) + 1
                elif loc.ships_orders:
                    target, reorder = math.ceil(demand * 7) + 2, math.ceil(demand * 2) + 1
                else:
                    target, reorder = rng.randint(3, 10), 1
                self.target[(sku, location_id)] = target
                self.reorder[(sku, location_id)] = reorder
                self.carried[location_id].append(sku)
                units = round(target * rng.uniform(*opening))
                if units:
                    yield sku, location_id, units

    def _xy(self, location_id: str) -> tuple[float, float]:
        place = self.locations[location_id].place
        return place.latitude, place.longitude

    def _gap(self, per_order: float = 1.0) -> int:
        """Time to the next occurrence of a Poisson process at per_order x the order rate."""
        return max(1, round(self.rng.expovariate(per_order / self.mean_gap)))

    # --- orders --------------------------------------------------------------------------
    def _place(self, at: int) -> None:
        rng = self.rng
        self._placed += 1
        channel = _pick(rng, _CHANNELS)
        city = None
        if channel == "pos":
            store = rng.choice(self.stores)
            source = store.source
            city = self._store_city[store.location_id]
        elif channel == "web":
            source = "shopify"
        else:
            source = _pick(rng, _MARKETPLACES)
        customer = self._customer(city)
        lines = self._lines()
        method = _pick(rng, _METHODS)
        number = self._number("order")
        prefix = {"web": "SO", "marketplace": "MP", "pos": "POS"}[channel]
        order = Order(
            f"{prefix}-{self.config.seed}-{number:06d}",
            source,
            at,
            at + self.hold,
            customer,
            method,
            self._promise(at, customer.place, method, channel),
            [(line["line_id"], line["sku"], line["quantity"]) for line in lines],
        )
        place = customer.place
        event = order_placed("", order.order_id, timestamp(at), lines, (0.0, 0.0), "")
        event["source"] = source
        event["channel"] = channel
        event["customer"] = {"customer_id": customer.customer_id, "email": customer.email}
        event["shipping_address"] = {
            "name": customer.name,
            "line1": customer.line1,
            "city": place.city,
            "region": place.region,
            "postal_code": place.postal_code,
            "country": "US",
            "latitude": place.latitude,
            "longitude": place.longitude,
        }
        event["shipping_method"] = method
        if order.promised_day is not None:
            event["promised_delivery_date"] = day_text(order.promised_day)
        self._push(event, at)
        self.stats["orders"] += 1
        self._at(order.hold_end, lambda t: self._allocate(t, order), first=True)
        self._maybe_cancel(order)
        if self.end is not None:
            following = at + self._gap()
            if following < self.end:
                self._at(following, self._place)
        elif self._placed < (self.config.orders or 0):
            self._at(at + self._gap(), self._place)
        else:  # the last of the orders asked for: the span ends here
            self.end = at + 1

    def _customer(self, city: City | None) -> Customer:
        rng = self.rng
        if city is None and self.customers and rng.random() < 0.3:
            return rng.choice(self.customers)  # a returning customer
        if city is None:
            city = _pick(rng, self._city_table)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = len(self.customers) + 1
        email = f"{first}.{last}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}".lower()
        line1 = f"{rng.randint(1, 9899)} {rng.choice(STREETS)}"
        if rng.random() < 0.2:
            line1 += f" Apt {rng.randint(1, 40)}{rng.choice('ABCDEF')}"
        base = city.place
        place = Place(
            base.city,
            base.region,
            f"{int(base.postal_code) + rng.randrange(city.postal_codes):05d}",
            round(base.latitude + rng.gauss(0, 0.04), 5),
            round(base.longitude + rng.gauss(0, 0.05), 5),
            base.utc_offset,
        )
        customer = Customer(
            f"C-{self.config.seed}-{number:06d}", email, f"{first} {last}", line1, place
        )
        self.customers.append(customer)
        return customer

    def _lines(self) -> list[dict]:
        rng = self.rng
        count = _pick(rng, _LINE_COUNTS)
        skus: list[str] = []
        while len(skus) < min(count, len(self._skus)):
            sku = self._skus[bisect(self._sku_cum, rng.random() * self._sku_cum[-1])]
            if sku not in skus:
                skus.append(sku)
        return [
            {
                "line_id": f"L{n}",
                "sku": sku,
                "quantity": _pick(rng, _QUANTITIES),
                "unit_price": f"{self.price[sku] / 100:.2f}",
            }
            for n, sku in enumerate(skus, start=1)
        ]

    def _promise(self, at: int, place: Place, method: str, channel: str) -> int | None:
        """The delivery date promised at checkout: dispatch today if ordered before noon
        (local), then the method's delivery days. Some channels do not promise a date."""
        if self.rng.random() > (0.5 if channel == "pos" else 0.93):
            return None
        day = local_day(at, place.utc_offset)
        dispatch = day if local_hour(at, place.utc_offset) < 12 else day + 1
        return add_delivery_days(dispatch, PROMISED_DAYS[method])

    def _maybe_cancel(self, order: Order) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.035 and self.hold > 5 * MINUTE:  # during the hold
            at = order.placed + rng.randint(2 * MINUTE, self.hold - 2 * MINUTE)
            reason = rng.choices(("fraud", "customer", "payment"), (45, 35, 20))[0]
            self._at(at, lambda t: self._cancel(t, order, reason, "cancelled_in_hold"))
        elif roll < 0.06:  # after the hold: only if it has not shipped by then
            at = order.hold_end + max(MINUTE, round(rng.expovariate(1 / (3 * HOUR))))
            reason = rng.choices(("customer", "payment", "duplicate_order"), (85, 10, 5))[0]
            self._at(at, lambda t: self._cancel(t, order, reason, "cancelled_after_hold"))

    def _cancel(self, at: int, order: Order, reason: str, kind: str) -> None:
        if order.state in ("shipped", "cancelled"):
            self.stats["cancellations_too_late"] += 1
            return
        order.state = "cancelled"
        self.stats[kind] += 1
        self._emit(
            at, "OrderCancelled", order.source, {"order_id": order.order_id, "reason": reason}
        )
        sku_of = {line_id: sku for line_id, sku, _ in order.lines}
        for line_id in order.waiting:
            self.stock.withdraw(sku_of[line_id], order.order_id, line_id)
        order.waiting.clear()
        self.orders.pop(order.order_id, None)
        for line_id, by_location in order.reserved.items():
            for location_id, units in by_location.items():
                self._fills(at, self.stock.release(sku_of[line_id], location_id, units))

    # --- allocation (the pipeline's rules) -----------------------------------------------
    def _allocate(self, at: int, order: Order) -> None:
        if order.state == "cancelled":
            return
        order.state = "released"
        needs = [Need(line_id, sku, units) for line_id, sku, units in order.lines]
        available = {
            (sku, loc): self.stock.available(sku, loc)
            for _, sku, _ in order.lines
            for loc in self.shipping
        }
        place = order.customer.place
        for a in plan(needs, (place.latitude, place.longitude), self.sites, available):
            if a.location_id is None:
                order.waiting[a.line_id] = order.waiting.get(a.line_id, 0) + a.quantity
                self.stock.backorder(a.sku, order.order_id, a.line_id, a.quantity, at)
            else:
                self.stock.reserve(a.sku, a.location_id, a.quantity)
                by_location = order.reserved.setdefault(a.line_id, {})
                by_location[a.location_id] = by_location.get(a.location_id, 0) + a.quantity
                self._check_stock(at, a.sku, a.location_id)
        if not order.waiting:
            self._fulfil(at, order)
            return
        self.stats["orders_backordered"] += 1
        self.orders[order.order_id] = order
        for line_id, sku, _ in order.lines:
            if line_id in order.waiting:
                self._expedite(at, sku)
        if self.rng.random() < 0.2:  # tired of waiting
            later = at + self.rng.randint(6 * HOUR, 72 * HOUR)
            self._at(later, lambda t: self._cancel(t, order, "customer", "cancelled_backorder"))

    def _fills(self, at: int, fills: list[Fill]) -> None:
        """Backordered units the stock model reserved: an order complete now is released."""
        for order_id, line_id, location_id, units in fills:
            order = self.orders[order_id]
            order.waiting[line_id] -= units
            if not order.waiting[line_id]:
                del order.waiting[line_id]
            by_location = order.reserved.setdefault(line_id, {})
            by_location[location_id] = by_location.get(location_id, 0) + units
            if not order.waiting:
                del self.orders[order_id]
                self._fulfil(at, order)

    # --- the warehouse -------------------------------------------------------------------
    def _fulfil(self, at: int, order: Order) -> None:
        """Every unit is reserved: plan each location's pick, pack and shipments."""
        rng = self.rng
        sku_of = {line_id: sku for line_id, sku, _ in order.lines}
        parts: dict[str, list[tuple[str, str, int]]] = {}
        for line_id, by_location in order.reserved.items():
            for location_id, units in by_location.items():
                parts.setdefault(location_id, []).append((line_id, sku_of[line_id], units))
        if len(parts) > 1:
            self.stats["orders_split"] += 1
        plans = []
        for location_id, lines in parts.items():
            loc = self.locations[location_id]
            median = 50 if loc.is_warehouse else 150
            delay = min(8 * HOUR, int(rng.lognormvariate(math.log(median), 0.8) * MINUTE))
            if rng.random() < 0.02:  # mislaid in the warehouse: late for the ship-by SLA
                delay += rng.randint(18 * HOUR, 40 * HOUR)
            picked = self._working(loc, at + max(5 * MINUTE, delay))
            packed = self._working(loc, picked + rng.randrange(5 * MINUTE, 45 * MINUTE))
            shipped = self._working(loc, packed + rng.randrange(5 * MINUTE, 60 * MINUTE))
            packages = self._packages(lines)
            times = [shipped + i * rng.randrange(MINUTE, 4 * MINUTE) for i in range(len(packages))]
            plans.append((loc, lines, picked, packed, packages, times))
        last_shipment = max(t for *_, times in plans for t in times)
        for loc, lines, picked, packed, packages, times in plans:
            carrier, service = self._carrier(order.method)
            self._at(picked, lambda t, loc=loc, lines=lines: self._picked(t, order, loc, lines))
            count = len(packages)
            self._at(packed, lambda t, loc=loc, n=count: self._packed(t, order, loc, n))
            for package, shipped in zip(packages, times, strict=True):
                self._at(
                    shipped,
                    lambda t, loc=loc, p=package, c=carrier, s=service: self._shipped(
                        t, order, loc, p, c, s, last_shipment
                    ),
                )

    def _working(self, loc: Location, at: int) -> int:
        """The time at or after `at` the location is working; the morning wave starts a
        little after opening."""
        opened = within_hours(at, loc.place.utc_offset, loc.opens, loc.closes)
        return opened if opened == at else opened + self.rng.randrange(5 * MINUTE, 90 * MINUTE)

    def _packages(self, lines: list[tuple[str, str, int]]) -> list[list[tuple[str, str, int]]]:
        units = sum(n for *_, n in lines)
        count = 1
        if units >= 2 and self.rng.random() < 0.18:
            count = 3 if units >= 6 and self.rng.random() < 0.3 else 2
        if count == 1:
            return [lines]
        if len(lines) >= count:
            return [lines[i::count] for i in range(count)]
        if len(lines) == 1:
            line_id, sku, n = lines[0]
            count = min(count, n)
            sizes = [n // count + (i < n % count) for i in range(count)]
            return [[(line_id, sku, size)] for size in sizes]
        return [lines]

    def _carrier(self, method: str) -> tuple[str, str]:
        options = SERVICES[method]
        carrier = self.rng.choices(list(options), [w for _, w in options.values()])[0]
        return carrier, options[carrier][0]

    def _picked(self, at: int, order: Order, loc: Location, lines) -> None:
        if order.state == "cancelled":
            return
        self._emit(
            at,
            "OrderPicked",
            loc.source,
            {
                "order_id": order.order_id,
                "location_id": loc.location_id,
                "lines": [{"line_id": lid, "sku": sku, "quantity": n} for lid, sku, n in lines],
            },
        )

    def _packed(self, at: int, order: Order, loc: Location, packages: int) -> None:
        if order.state == "cancelled":
            return
        self._emit(
            at,
            "OrderPacked",
            loc.source,
            {"order_id": order.order_id, "location_id": loc.location_id, "package_count": packages},
        )

    def _shipped(self, at, order: Order, loc: Location, lines, carrier, service, last) -> None:
        if order.state == "cancelled":
            return
        order.state = "shipped"
        number = self._number("parcel")
        tracking = _tracking_number(carrier, service, number, self.config.seed, loc)
        self._emit(
            at,
            "ShipmentCreated",
            loc.source,
            {
                "order_id": order.order_id,
                "shipment_id": f"SHP-{self.config.seed}-{number:07d}",
                "location_id": loc.location_id,
                "carrier": carrier,
                "service": service,
                "tracking_number": tracking,
                "lines": [{"line_id": lid, "sku": sku, "quantity": n} for lid, sku, n in lines],
            },
        )
        for _, sku, units in lines:
            self._fills(at, self.stock.consume(sku, loc.location_id, units))
        self.stats["parcels"] += 1
        parcel = carriers.Parcel(
            tracking,
            carrier,
            service,
            loc.place,
            order.customer.place,
            at,
            loc.pickups,
            last + 30 * MINUTE,
        )
        journey = carriers.journey(parcel, self.rng)
        self.stats[f"parcels_{journey.outcome}"] += 1
        for kind in journey.exceptions:
            self.stats[f"parcel_{kind}"] += 1
        for arrival, occurred, event in journey.scans:
            if arrival != occurred:
                self.stats["scans_late"] += 1
            self._push(event, arrival)

    # --- stock ---------------------------------------------------------------------------
    def _check_stock(self, at: int, sku: str, location_id: str) -> None:
        """After stock went down: replenish a location at or below its reorder point (after
        the order span only for SKUs with backorders waiting)."""
        key = (sku, location_id)
        if key in self._replenishing or key not in self.reorder:
            return
        if not self._active(at) and not self.stock.waiting.get(sku):
            return
        if self.stock.available(sku, location_id) > self.reorder[key]:
            return
        rng = self.rng
        loc = self.locations[location_id]
        if not loc.is_warehouse:
            source = min(
                (w for w in self.warehouses if (sku, w) in self.target),
                key=lambda w: great_circle_km(*self._xy(w), *self._xy(location_id)),
            )
            when = self._working(loc, at + rng.randint(16 * HOUR, 30 * HOUR))
            self._replenishing.add(key)
            self._at(when, lambda t: self._transfer(t, sku, source, location_id))
            return
        if rng.random() < 0.15:  # rebalance from a warehouse with more than it needs
            surplus = [
                w
                for w in self.warehouses
                if w != location_id
                and (sku, w) in self.target
                and self.stock.available(sku, w) > self.target[(sku, w)]
            ]
            if surplus:
                when = self._working(loc, at + rng.randint(20 * HOUR, 44 * HOUR))
                self._replenishing.add(key)
                self._at(when, lambda t: self._transfer(t, sku, surplus[0], location_id))
                return
        lead = rng.randint(40 * HOUR, 100 * HOUR)
        if rng.random() < 0.1:  # the supplier is late
            lead += rng.randint(2 * DAY, 6 * DAY)
        self._purchase(at, sku, location_id, lead)

    def _expedite(self, at: int, sku: str) -> None:
        """Backordered units: make sure a purchase order is on its way to a warehouse."""
        if any((sku, w) in self._replenishing for w in self.warehouses):
            return
        self._purchase(at, sku, self.home[sku], self.rng.randint(20 * HOUR, 48 * HOUR))

    def _purchase(self, at: int, sku: str, location_id: str, lead: int) -> None:
        loc = self.locations[location_id]
        when = within_hours(at + lead, loc.place.utc_offset, 7, 16)
        self._replenishing.add((sku, location_id))
        self._at(when, lambda t: self._received(t, sku, location_id))

    def _received(self, at: int, sku: str, location_id: str) -> None:
        key = (sku, location_id)
        self._replenishing.discard(key)
        target = self.target[key]
        units = max(target - self.stock.available(sku, location_id), math.ceil(target / 2))
        units += self.stock.waiting_units(sku)
        day = day_text(local_day(at, 0)).replace("-", "")
        reference = f"PO-{day}-{self._number('po'):05d}"
        self._emit(
            at,
            "InventoryReceived",
            self.locations[location_id].source,
            {"sku": sku, "location_id": location_id, "quantity": units, "reference": reference},
        )
        self._fills(at, self.stock.receive(sku, location_id, units))

    def _transfer(self, at: int, sku: str, source: str, destination: str) -> None:
        self._replenishing.discard((sku, destination))
        wanted = self.target[(sku, destination)] - self.stock.available(sku, destination)
        spare = self.stock.available(sku, source) - self.reorder[(sku, source)]
        units = min(wanted, spare)
        if units <= 0:
            self._check_stock(at, sku, destination)
            return
        self._emit(
            at,
            "InventoryTransferred",
            self.locations[source].source,
            {
                "sku": sku,
                "from_location_id": source,
                "to_location_id": destination,
                "quantity": units,
            },
        )
        self._fills(at, self.stock.transfer(sku, source, destination, units))
        self._check_stock(at, sku, source)

    def _pick_position(self) -> tuple[str, str]:
        location_id = self.rng.choices(
            [loc.location_id for loc in LOCATIONS],
            [3 if loc.is_warehouse else 1 for loc in LOCATIONS],
        )[0]
        return self.rng.choice(self.carried[location_id]), location_id

    def _cycle_count(self, at: int) -> None:
        if not self._active(at):
            return
        self._at(at + self._gap(COUNTS_PER_ORDER), self._cycle_count)
        sku, location_id = self._pick_position()
        loc = self.locations[location_id]
        self._at(self._working(loc, at), lambda t: self._count(t, sku, location_id))

    def _count(self, at: int, sku: str, location_id: str) -> None:
        key = (sku, location_id)
        on_hand = self.stock.on_hand[key]
        found = 0 if self.rng.random() < 0.8 else self.rng.choice((-3, -2, -1, -1, 1, 1, 2))
        counted = max(on_hand + found, self.stock.reserved[key], 0)
        self._emit(
            at,
            "InventoryCounted",
            self.locations[location_id].source,
            {"sku": sku, "location_id": location_id, "counted_on_hand": counted},
        )
        self._fills(at, self.stock.count(sku, location_id, counted))
        if counted < on_hand:
            self._check_stock(at, sku, location_id)

    def _adjustment(self, at: int) -> None:
        if not self._active(at):
            return
        self._at(at + self._gap(ADJUSTMENTS_PER_ORDER), self._adjustment)
        sku, location_id = self._pick_position()
        loc = self.locations[location_id]
        self._at(self._working(loc, at), lambda t: self._adjust(t, sku, location_id))

    def _adjust(self, at: int, sku: str, location_id: str) -> None:
        rng = self.rng
        reason = _pick(rng, _REASONS)
        delta = {
            "damaged": -rng.randint(1, 2),
            "shrinkage": -rng.randint(1, 3),
            "found": rng.randint(1, 2),
            "correction": rng.choice((-4, -2, -1, 1, 2, 3)),
        }[reason]
        if delta < 0:  # never below what orders hold there
            delta = -min(-delta, self.stock.available(sku, location_id))
        if delta == 0:
            return
        self._emit(
            at,
            "InventoryAdjusted",
            self.locations[location_id].source,
            {"sku": sku, "location_id": location_id, "delta": delta, "reason": reason},
        )
        self._fills(at, self.stock.adjust(sku, location_id, delta))
        if delta < 0:
            self._check_stock(at, sku, location_id)


def _tracking_number(carrier: str, service: str, number: int, seed: int, loc: Location) -> str:
    """Carrier-shaped tracking numbers, unique within a run (a bijective mix of the parcel
    number, so they look random)."""

    def digits(width: int) -> str:
        return f"{(number * 48271 + seed * 7_654_321) % 10**width:0{width}d}"

    if carrier == "ups":
        shipper = _shipper(loc)
        code = {"ground": "03", "2nd_day_air": "02", "next_day_air": "01"}[service]
        return f"1Z{shipper}{code}{digits(8)}"
    if carrier == "fedex":
        return f"7{digits(11)}"
    if carrier == "usps":
        prefix = {"ground_advantage": "9400", "priority_mail": "9405"}.get(service, "9270")
        return f"{prefix}1{digits(17)}"
    return f"GM{digits(16)}" if service == "ecommerce_ground" else digits(10)


def _shipper(loc: Location) -> str:
    """A stable six-character UPS shipper number per location."""
    alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXY"
    value = sum(ord(ch) * 31**i for i, ch in enumerate(loc.location_id))
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in range(6))
