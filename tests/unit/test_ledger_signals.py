"""streams/inventory/ledger.py: low-stock, stock-out and oversold signals after a change."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from streams.inventory.ledger import (
    Change,
    LedgerError,
    Reservation,
    Signal,
    SkuStock,
    apply_command,
    apply_inventory_event,
    signals_after,
)
from tests.unit.test_ledger import (
    SKU,
    adjusted,
    command,
    counted,
    received,
    record_for,
    steps,
    transferred,
)

SHIPPING = {"L1", "L2"}  # S1 is a store that does not ship orders


class Shop:
    """One SKU's stock, applying events and commands and collecting the signals."""

    def __init__(self, reorder_point: int = 3, shipping: set[str] = SHIPPING) -> None:
        self.stock = SkuStock(SKU)
        self.reorder_point = reorder_point
        self.shipping = shipping
        self.n = 0

    def _signals(self, change: Change) -> list[Signal]:
        return signals_after(self.stock, change, self.reorder_point, self.shipping)

    def event(self, event_type: str, build, *args) -> list[Signal]:
        self.n += 1
        return self._signals(apply_inventory_event(self.stock, event_type, build(self.n, *args)))

    def receive(self, location_id: str, quantity: int) -> list[Signal]:
        return self.event("InventoryReceived", received, location_id, quantity)

    def adjust(self, location_id: str, delta: int) -> list[Signal]:
        return self.event("InventoryAdjusted", adjusted, location_id, delta)

    def count(self, location_id: str, counted_on_hand: int) -> list[Signal]:
        return self.event("InventoryCounted", counted, location_id, counted_on_hand)

    def transfer(self, from_location_id: str, to_location_id: str, quantity: int) -> list[Signal]:
        return self.event(
            "InventoryTransferred", transferred, from_location_id, to_location_id, quantity
        )

    def do(self, action: str, location_id: str, quantity: int, order_id="ORD-1", line_id="1"):
        self.n += 1
        cmd = command(self.n, action, location_id, quantity, order_id, line_id)
        change, granted = apply_command(self.stock, cmd)
        assert granted
        return self._signals(change)


def kinds(signals: list[Signal]) -> list[str]:
    return [s.kind for s in signals]


# --------------------------------------------------------------------------- low stock


def test_low_stock_raised_once_and_rearmed_after_going_above():
    shop = Shop(reorder_point=3)
    assert shop.receive("L1", 10) == []
    assert shop.adjust("L1", -7) == [Signal("low_stock", SKU, "L1", 3)]
    assert "L1" in shop.stock.low
    assert shop.adjust("L1", -1) == []  # still low: not again
    assert shop.do("reserve", "L1", 1) == []
    assert shop.receive("L1", 1) == []  # available 2: still low
    assert shop.receive("L1", 5) == []  # available 7: above, re-armed
    assert "L1" not in shop.stock.low
    assert shop.adjust("L1", -4) == [Signal("low_stock", SKU, "L1", 3)]


def test_low_stock_raised_by_a_reservation():
    shop = Shop(reorder_point=3)
    shop.receive("L1", 10)
    assert shop.do("reserve", "L1", 6) == []
    assert shop.do("reserve", "L1", 1, order_id="ORD-2") == [Signal("low_stock", SKU, "L1", 3)]


def test_low_stock_is_per_location():
    shop = Shop(reorder_point=3)
    shop.receive("L1", 10)
    shop.receive("L2", 10)
    assert shop.adjust("L1", -8) == [Signal("low_stock", SKU, "L1", 2)]
    assert shop.adjust("L2", -9) == [Signal("low_stock", SKU, "L2", 1)]
    assert shop.stock.low == {"L1", "L2"}


def test_low_stock_state_survives_the_stored_form():
    shop = Shop(reorder_point=3)
    shop.receive("L1", 10)
    shop.adjust("L1", -8)
    shop.stock = SkuStock.from_dict(json.loads(json.dumps(shop.stock.as_dict())))
    assert shop.adjust("L1", -1) == []


def test_transfer_can_make_both_ends_low():
    shop = Shop(reorder_point=3, shipping=set())
    shop.receive("L1", 5)  # low_stock? no: 5 > 3
    low = shop.transfer("L1", "L2", 3)
    assert low == [Signal("low_stock", SKU, "L1", 2), Signal("low_stock", SKU, "L2", 3)]


# --------------------------------------------------------------------------- stock out


def test_stock_out_raised_once_when_every_shipping_location_is_out():
    shop = Shop(reorder_point=-100)  # keep low_stock out of the way
    shop.receive("L1", 5)
    shop.receive("L2", 3)
    assert shop.do("reserve", "L1", 5) == []  # L2 still has 3
    assert shop.adjust("L2", -3) == [Signal("stock_out", SKU, "", 0)]
    assert shop.stock.out
    assert shop.count("L2", 0) == []  # still out: not again
    assert shop.receive("S1", 4) == []  # nor on a change at a store
    assert shop.do("release", "L1", 5) == []  # L1 has 5 available again
    assert not shop.stock.out
    assert shop.do("reserve", "L1", 5, order_id="ORD-2") == [Signal("stock_out", SKU, "", 0)]


def test_stock_out_counts_only_shipping_locations():
    shop = Shop(reorder_point=-100)
    shop.receive("S1", 50)  # a store: its stock does not ship orders
    shop.receive("L1", 2)
    assert shop.count("L1", 0) == [Signal("stock_out", SKU, "", 0)]


def test_stock_out_not_raised_while_a_shipping_location_has_stock():
    shop = Shop(reorder_point=-100)
    shop.receive("L1", 2)
    shop.receive("L2", 1)
    assert shop.adjust("L1", -2) == []
    assert not shop.stock.out


def test_stock_out_rearmed_after_stock_returns():
    shop = Shop(reorder_point=-100)
    shop.receive("L1", 2)
    assert kinds(shop.adjust("L1", -2)) == ["stock_out"]
    assert shop.receive("L2", 1) == []
    assert not shop.stock.out
    assert kinds(shop.do("reserve", "L2", 1)) == ["stock_out"]


def test_stock_out_uses_the_best_shipping_location_when_oversold():
    shop = Shop(reorder_point=-100)
    shop.receive("L1", 2)
    shop.receive("L2", 2)
    shop.do("reserve", "L1", 2)
    shop.adjust("L1", -1)  # L1 oversold: available -1
    assert shop.adjust("L2", -2) == [Signal("stock_out", SKU, "", 0)]


@pytest.mark.parametrize("shipping", [set(), {"L1"}], ids=["no-shipping", "shipping-unstocked"])
def test_stock_out_not_raised_without_shipping_locations_with_positions(shipping):
    shop = Shop(reorder_point=-100, shipping=shipping)
    shop.receive("S1", 2)
    assert shop.adjust("S1", -2) == []
    assert not shop.stock.out


# --------------------------------------------------------------------------- oversold


def reserve_three(shop: Shop) -> None:
    shop.receive("L1", 10)
    shop.receive("L2", 10)
    shop.do("reserve", "L1", 3, order_id="ORD-1")
    shop.do("reserve", "L1", 4, order_id="ORD-2")
    shop.do("reserve", "L1", 2, order_id="ORD-3")
    shop.do("reserve", "L2", 5, order_id="ORD-4")  # newest of all, at another location


def oversold(location_id: str, available: int, *orders: tuple[str, int]) -> Signal:
    listed = tuple((Reservation(o, "1", location_id), q) for o, q in orders)
    return Signal("oversold", SKU, location_id, available, listed)


def test_adjustment_below_reserved_is_oversold_listing_newest_first():
    shop = Shop(reorder_point=-100)
    reserve_three(shop)
    # on hand 5, reserved 9: the excess of 4 is covered by ORD-3 (2) then ORD-2 (4)
    assert shop.adjust("L1", -5) == [oversold("L1", -4, ("ORD-3", 2), ("ORD-2", 4))]


def test_count_below_reserved_is_oversold():
    shop = Shop(reorder_point=-100)
    reserve_three(shop)
    assert shop.count("L1", 7) == [oversold("L1", -2, ("ORD-3", 2))]


def test_oversold_below_zero_on_hand_lists_every_reservation_there():
    shop = Shop(reorder_point=-100)
    reserve_three(shop)
    expected = oversold("L1", -11, ("ORD-3", 2), ("ORD-2", 4), ("ORD-1", 3))
    assert shop.adjust("L1", -12) == [expected]


def test_transfer_out_below_reserved_is_oversold():
    shop = Shop(reorder_point=-100)
    reserve_three(shop)
    assert shop.transfer("L1", "S1", 2) == [oversold("L1", -1, ("ORD-3", 2))]


def test_adjustment_that_still_fits_is_not_oversold():
    shop = Shop(reorder_point=-100)
    reserve_three(shop)
    assert shop.adjust("L1", -1) == []  # on hand 9, reserved 9


def test_oversold_comes_with_low_stock():
    shop = Shop(reorder_point=0)
    reserve_three(shop)
    assert kinds(shop.adjust("L1", -2)) == ["oversold", "low_stock"]


@pytest.mark.parametrize(
    "lower",
    [
        lambda shop: shop.adjust("L1", -3),
        lambda shop: shop.transfer("L1", "L2", 3),
    ],
    ids=["adjusted", "transferred"],
)
def test_negative_on_hand_with_nothing_reserved_is_not_oversold(lower):
    shop = Shop(reorder_point=-100)
    shop.receive("L1", 1)
    shop.receive("L2", 5)
    assert "oversold" not in kinds(lower(shop))  # on hand -2, nothing reserved, nothing sold


def test_no_oversold_from_a_reservation():
    shop = Shop(reorder_point=-100)
    shop.receive("L1", 5)
    shop.receive("L2", 5)  # keeps stock_out out of the way
    assert shop.do("reserve", "L1", 5) == []
    assert shop.stock.position("L1").available == 0
    refused, granted = apply_command(shop.stock, command(99, "reserve", "L1", 1, "ORD-2"))
    assert not granted
    assert signals_after(shop.stock, refused, -100, SHIPPING) == []


def test_no_signals_for_an_empty_change():
    shop = Shop(reorder_point=3)
    shop.receive("L1", 10)
    assert signals_after(shop.stock, Change(), 3, SHIPPING) == []


# --------------------------------------------------------------------------- property


def expected_oversold_reservations(stock: SkuStock, location_id: str) -> list:
    return [
        (Reservation.from_key(key), quantity)
        for key, quantity in reversed(stock.reservations.items())
        if Reservation.from_key(key).location_id == location_id
    ]


def check_oversold(stock: SkuStock, signal: Signal) -> None:
    position = stock.position(signal.location_id)
    assert position.on_hand < position.reserved
    assert signal.available == position.available
    listed = list(signal.reservations)
    candidates = expected_oversold_reservations(stock, signal.location_id)
    assert listed and listed == candidates[: len(listed)]  # newest first, at that location
    excess = position.reserved - position.on_hand
    quantities = [q for _, q in listed]
    assert sum(quantities) >= excess or len(listed) == len(candidates)  # covers the excess
    assert sum(quantities[:-1]) < excess  # and lists no more than needed


@given(steps())
@settings(max_examples=150, database=None, deadline=None)
def test_signals_fire_on_transitions(drawn):
    sequence, roundtrips = drawn
    reorder_point = len(sequence) % 4
    shipping = {"L1", "L2"}
    stock = SkuStock(SKU)
    low: set[str] = set()
    out = False
    for n, (step, roundtrip) in enumerate(zip(sequence, roundtrips, strict=True)):
        if roundtrip:
            stock = SkuStock.from_dict(json.loads(json.dumps(stock.as_dict())))
        before = {loc: stock.position(loc) for loc in ("L1", "L2", "L3")}
        if step[0] in ("reserve", "release", "consume"):
            kind, location_id, quantity, order_id, line_id = step
            try:
                change, _ = apply_command(
                    stock, command(n, kind, location_id, quantity, order_id, line_id)
                )
            except LedgerError:
                continue
            is_command = True
        else:
            change = apply_inventory_event(stock, *record_for(n, step))
            is_command = False
        signals = signals_after(stock, change, reorder_point, shipping)

        # oversold: only from a change that took more off on hand than it released from
        # reservations (an inventory event, or a shipment beyond its reservation) and left
        # reserved above what is on hand
        oversold_at = {s.location_id for s in signals if s.kind == "oversold"}
        for signal in signals:
            if signal.kind == "oversold":
                check_oversold(stock, signal)
        expected = set()
        for loc, was in before.items():
            now = stock.position(loc)
            unreserved_out = (was.on_hand - now.on_hand) - (was.reserved - now.reserved)
            from_this_change = not is_command or step[0] == "consume"
            if from_this_change and unreserved_out > 0 and now.reserved > max(now.on_hand, 0):
                expected.add(loc)
        assert oversold_at == expected

        # low stock: once when a touched location's available is at or below the reorder point
        touched = list(dict.fromkeys(m.location_id for m in change.movements))
        expected_low = []
        for loc in touched:
            if stock.position(loc).available <= reorder_point:
                if loc not in low:
                    expected_low.append(
                        Signal("low_stock", SKU, loc, stock.position(loc).available)
                    )
                low.add(loc)
            else:
                low.discard(loc)
        assert [s for s in signals if s.kind == "low_stock"] == expected_low
        assert stock.low == low

        # stock out: once when every stocked shipping location has nothing available
        stocked = [stock.position(loc).available for loc in shipping if loc in stock.positions]
        now_out = bool(stocked) and max(stocked) <= 0
        stock_outs = [s for s in signals if s.kind == "stock_out"]
        assert stock_outs == (
            [Signal("stock_out", SKU, "", max(stocked))] if now_out and not out else []
        )
        out = now_out
        assert stock.out == out

        assert {s.kind for s in signals} <= {"low_stock", "stock_out", "oversold"}
        assert all(s.sku == SKU for s in signals)
