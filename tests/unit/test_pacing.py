"""Where a paced replay waits: only between events that could interact."""

from datetime import UTC, datetime, timedelta

from connectors.sources.pacing import Pacer

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ORDERS, FULFILLMENT, INVENTORY, SCANS = "orders", "fulfillment", "inventory", "carrier-scans"


def pacer() -> Pacer:
    return Pacer(timedelta(minutes=1), timedelta(hours=1))


def placed(order: str, *skus: str, at: datetime = T0) -> tuple[str, dict]:
    lines = [{"line_id": f"L{n}", "sku": sku, "quantity": 1} for n, sku in enumerate(skus)]
    return "OrderPlaced", {"order_id": order, "occurred_at": at, "lines": lines}


def received(sku: str, at: datetime = T0) -> tuple[str, dict]:
    return "InventoryReceived", {"sku": sku, "occurred_at": at}


def offer(p: Pacer, event: tuple[str, dict], topic: str, partition: int) -> bool:
    """Whether the event had to wait; then it is in flight."""
    keys = p.touches(*event, partition)
    waited = p.must_wait(keys, (topic, partition))
    if waited:
        p.settled()
    p.publish(keys, (topic, partition))
    return waited


def test_events_on_disjoint_keys_are_in_flight_together():
    p = pacer()
    assert not offer(p, received("A"), INVENTORY, 0)
    assert not offer(p, received("B"), INVENTORY, 1)
    assert not offer(p, placed("O1", "C"), ORDERS, 2)


def test_the_same_sku_on_another_partition_waits():
    p = pacer()
    offer(p, placed("O1", "A"), ORDERS, 0)
    offer(p, ("OrderPicked", {"order_id": "O1", "occurred_at": T0, "lines": []}), FULFILLMENT, 0)
    assert offer(p, received("A"), INVENTORY, 0)  # same number, another topic


def test_a_placement_on_hold_touches_no_stock_but_one_its_clock_has_passed_does():
    p = pacer()
    offer(p, received("A"), INVENTORY, 0)
    assert not offer(p, placed("O1", "A"), ORDERS, 1)  # its hold ends in an hour
    offer(p, ("OrderPicked", {"order_id": "X", "occurred_at": T0 + timedelta(hours=2)}), ORDERS, 2)
    p.settled()
    offer(p, received("B"), INVENTORY, 0)
    late = placed("O2", "B", at=T0 - timedelta(hours=3))  # its hold ended before the clock
    assert offer(p, late, ORDERS, 2)


def test_one_partition_keeps_its_own_order():
    p = pacer()
    offer(p, received("A"), INVENTORY, 3)
    assert not offer(p, received("A"), INVENTORY, 3)


def test_an_order_and_its_fulfillment_on_another_topic_wait():
    p = pacer()
    offer(p, placed("O1", "A"), ORDERS, 1)
    picked = ("OrderPacked", {"order_id": "O1", "occurred_at": T0})
    assert offer(p, picked, FULFILLMENT, 1)


def test_a_scan_waits_for_its_shipment():
    p = pacer()
    offer(p, placed("O1", "A"), ORDERS, 1)
    p.settled()
    shipped = {"order_id": "O1", "occurred_at": T0, "tracking_number": "1Z", "lines": []}
    offer(p, ("ShipmentCreated", shipped), FULFILLMENT, 1)
    scan = ("CarrierScan", {"tracking_number": "1Z", "occurred_at": T0})
    assert offer(p, scan, SCANS, 4)


def test_locations_are_a_barrier_both_ways():
    p = pacer()
    offer(p, received("A"), INVENTORY, 0)
    location = ("LocationUpserted", {"location_id": "WH-1", "occurred_at": T0})
    assert offer(p, location, "locations", 0)
    assert offer(p, received("B"), INVENTORY, 2)


def test_an_event_that_moves_the_clock_past_a_hold_touches_what_the_hold_wants():
    p = pacer()
    offer(p, placed("O1", "A"), ORDERS, 1)
    p.settled()
    after_hold = T0 + timedelta(hours=1, seconds=5)
    offer(p, placed("O2", "Z", at=after_hold), ORDERS, 1)  # ends O1's hold: reserves A
    assert offer(p, received("A", at=after_hold), INVENTORY, 5)


def test_a_tick_goes_out_once_and_holds_wanting_one_sku_get_it_in_turn():
    p = pacer()
    offer(p, placed("O1", "A"), ORDERS, 0)
    offer(p, placed("O2", "B"), ORDERS, 1)
    offer(p, placed("O3", "A"), ORDERS, 2)
    offer(p, placed("O4", "C"), ORDERS, 3)
    hour_later = T0 + timedelta(hours=1)
    assert p.ticks(hour_later, range(4)) == [[0, 1], [2, 3]]
    assert p.ticks(hour_later + timedelta(seconds=30), range(4)) == []
    assert p.reached == hour_later
    assert p.ticks(hour_later + timedelta(minutes=1), range(4)) == [[0, 1, 2, 3]]
