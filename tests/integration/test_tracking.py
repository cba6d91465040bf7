"""Tracking end to end on the real broker and chDB: parcels followed scan by scan, delivery
exceptions opened and resolved on event time, orders following their parcels."""

from __future__ import annotations

import pytest

from .helpers import FIXTURES, oms_run, query, scalar

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "tracking_parcels.jsonl"
END_OF_PROMISE = "2026-11-25 23:59:59.999"


def at(day: int, hm: str) -> str:
    return f"2026-{11 if day > 9 else 12}-{day:02d} {hm}:00.000"


def test_eleven_parcels_through_oms_run(settings):
    """tests/fixtures/tracking_parcels.jsonl: eleven orders shipped on Nov 21 from one
    warehouse, promised for Nov 25, then each parcel's scans (hand-worked answers below).
    The file ends with an event on Dec 2, so the clock passes every rule's time."""
    oms_run(settings, SCENARIO)

    exceptions = query(
        settings,
        "SELECT tracking_number, kind, toString(opened_at), toString(resolved_at), state"
        " FROM delivery_exceptions FINAL WHERE state != 'withdrawn'"
        " ORDER BY tracking_number, opened_at, kind",
    )
    assert exceptions == [
        # T01 on time, no exception
        ("T02", "carrier_exception", at(22, "10:00"), at(22, "20:00"), "resolved"),  # weather
        ("T03", "failed_attempt", at(23, "15:00"), at(24, "13:00"), "resolved"),
        ("T04", "returned_to_sender", at(23, "09:00"), None, "opened"),
        ("T04", "late_delivery", END_OF_PROMISE, None, "opened"),
        # T05: 96 h without a scan, then delivered a day late
        ("T05", "stalled", at(24, "18:00"), at(25, "18:00"), "resolved"),
        ("T05", "late_delivery", END_OF_PROMISE, at(26, "10:00"), "resolved"),
        # T06: one scan, then silence until the clock reaches Dec 2
        ("T06", "stalled", at(24, "18:00"), None, "opened"),
        ("T06", "late_delivery", END_OF_PROMISE, None, "opened"),
        ("T06", "lost", "2026-12-01 18:00:00.000", None, "opened"),
        # T07: its out-for-delivery scan arrived after its delivery scan: nothing wrong
        # T08: the carrier's estimate slipped past the promise: warned early
        ("T08", "late_delivery", at(21, "18:00"), at(26, "12:00"), "resolved"),
        # T09: a duplicated scan; T10: a scan before its shipment was known
        ("T11", "carrier_exception", at(22, "10:00"), at(22, "14:00"), "resolved"),
        ("T11", "carrier_exception", at(22, "18:00"), at(23, "08:00"), "resolved"),
    ]
    shipments = query(
        settings,
        "SELECT tracking_number, status, toString(delivered_at), toString(last_scan_at),"
        " toString(promised_delivery_date) FROM shipments FINAL ORDER BY tracking_number",
    )
    delivered = {
        "T01": at(23, "14:00"),
        "T02": at(23, "12:00"),
        "T03": at(24, "13:00"),
        "T05": at(26, "10:00"),
        "T07": at(23, "14:00"),
        "T08": at(26, "12:00"),
        "T09": at(22, "16:00"),
        "T10": at(22, "15:00"),
        "T11": at(23, "16:00"),
    }
    assert [(s[0], s[1], s[2]) for s in shipments] == [
        (f"T{n:02d}", *_expected_status(f"T{n:02d}", delivered)) for n in range(1, 12)
    ]
    assert {s[4] for s in shipments} == {"2026-11-25"}
    last_scans = {s[0]: s[3] for s in shipments}
    assert last_scans["T07"] == at(23, "14:00")  # the late scan joined the history only
    assert last_scans["T06"] == at(21, "18:00")
    scans = dict(
        query(settings, "SELECT tracking_number, count() FROM carrier_scans FINAL GROUP BY 1")
    )
    assert scans["T09"] == 2 and scans["T07"] == 3 and scans["T10"] == 3

    orders = dict(query(settings, "SELECT order_id, status FROM orders FINAL"))
    assert orders == {f"O-{n:02d}": "shipped" if n in (4, 6) else "delivered" for n in range(1, 12)}
    assert scalar(
        settings, "SELECT toString(delivered_at) FROM orders FINAL WHERE order_id = 'O-05'"
    ) == at(26, "10:00")
    notifications = dict(
        query(settings, "SELECT kind, count() FROM notifications FINAL GROUP BY kind")
    )
    assert notifications == {
        "order_confirmation": 11,
        "shipping_confirmation": 11,
        "delivery_exception": 12,  # one per exception opened, as listed above
        "follow_up": 9,  # three days after each delivery, all before Dec 2
    }
    assert scalar(settings, "SELECT count() FROM dead_letters") == 0


def _expected_status(tracking_number: str, delivered: dict) -> tuple[str, str | None]:
    if tracking_number in delivered:
        return "delivered", delivered[tracking_number]
    return ("return_to_sender" if tracking_number == "T04" else "in_transit"), None
