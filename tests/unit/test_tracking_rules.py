"""Delivery-exception rules over a parcel's scan history, and the parcel that publishes them."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.tracking.parcel import Parcel, add_scan, add_shipment, judge
from streams.tracking.rules import Finding, Scan, Timing, end_of_day, findings, next_due

SHIPPED = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PROMISED = date(2026, 11, 24)
TIMING = Timing()
_ids = itertools.count()


def h(hours: float) -> datetime:
    return SHIPPED + timedelta(hours=hours)


def scan(hours: float, status: str, detail: str = "", estimate: date | None = None) -> Scan:
    return Scan(f"scan-{next(_ids):04d}", h(hours), status, detail, "", estimate)


def found(scans, clock_hours: float = 24 * 30, promised=PROMISED, timing=TIMING):
    return [
        (f.kind, f.opened_at, f.resolved_at)
        for f in findings(scans, SHIPPED, promised, h(clock_hours), timing)
    ]


# ----------------------------------------------------------------------------- each rule
def test_a_parcel_delivered_on_time_has_no_exception():
    scans = [
        scan(1, "pre_transit"),
        scan(5, "in_transit"),
        scan(40, "out_for_delivery"),
        scan(44, "delivered"),
    ]
    assert found(scans) == []


@pytest.mark.parametrize("detail", ["address_issue", "damaged", "weather_delay", "customs_hold"])
def test_carrier_exception_opens_and_resolves_when_the_parcel_moves_on(detail):
    scans = [
        scan(5, "in_transit"),
        scan(20, "exception", detail),
        scan(30, "in_transit"),
        scan(44, "delivered"),
    ]
    [(kind, opened, resolved)] = found(scans)
    assert (kind, opened, resolved) == ("carrier_exception", h(20), h(30))
    [finding] = findings(scans, SHIPPED, PROMISED, h(100), TIMING)
    assert finding.status_detail == detail and finding.severity == "warning"


@pytest.mark.parametrize("detail", ["delivery_attempted", "recipient_unavailable"])
def test_failed_attempt_is_its_own_kind_and_delivery_resolves_it(detail):
    scans = [scan(40, "out_for_delivery"), scan(44, "failure", detail), scan(68, "delivered")]
    assert found(scans) == [("failed_attempt", h(44), h(68))]


def test_returned_to_sender_is_critical_and_stays_open():
    scans = [scan(5, "in_transit"), scan(50, "return_to_sender")]
    result = findings(scans, SHIPPED, None, h(60), TIMING)
    assert [(f.kind, f.resolved_at, f.severity) for f in result] == [
        ("returned_to_sender", None, "critical")
    ]


def test_stalled_opens_72_hours_after_the_last_scan_and_resolves_at_the_next():
    scans = [scan(5, "in_transit"), scan(90, "in_transit"), scan(95, "delivered")]
    assert found(scans, promised=None) == [("stalled", h(77), h(90))]


def test_stalled_fires_on_event_time_only():
    scans = [scan(5, "in_transit")]
    # the clock has not reached last scan + 72 h: nothing, however long the wall clock ran
    assert found(scans, clock_hours=76.99, promised=None) == []
    # the clock passes it only much later (the next event is days after): opened at 77 h
    assert found(scans, clock_hours=120, promised=None) == [("stalled", h(77), None)]


def test_stalled_only_while_moving():
    scans = [scan(1, "pre_transit"), scan(2, "available_for_pickup")]
    assert [k for k, *_ in found(scans, clock_hours=100, promised=None)] == []


def test_lost_after_ten_days_of_silence_or_when_the_carrier_says_so():
    quiet = [scan(5, "in_transit")]
    kinds = found(quiet, clock_hours=5 + 240, promised=None)
    assert ("lost", h(245), None) in kinds
    said = [scan(5, "in_transit"), scan(30, "exception", "lost")]
    assert found(said, clock_hours=31, promised=None) == [("lost", h(30), None)]
    found_again = [*said, scan(50, "in_transit")]
    assert found(found_again, clock_hours=51, promised=None) == [("lost", h(30), h(50))]


def test_never_scanned_is_lost_ten_days_after_shipment():
    assert found([], clock_hours=240, promised=None) == [("lost", h(240), None)]


def test_late_delivery_opens_at_the_end_of_the_promised_day():
    scans = [scan(5, "in_transit"), scan(40, "in_transit")]
    result = found(scans, clock_hours=24 * 5, promised=PROMISED)
    assert ("late_delivery", end_of_day(PROMISED), None) in result


def test_a_parcel_delivered_after_being_reported_late():
    scans = [scan(5, "in_transit"), scan(60, "in_transit"), scan(130, "delivered")]
    assert found(scans) == [("late_delivery", end_of_day(PROMISED), h(130))]


def test_an_estimate_past_the_promise_opens_late_delivery_early():
    scans = [scan(5, "in_transit", estimate=date(2026, 11, 26)), scan(30, "in_transit")]
    assert found(scans, clock_hours=31) == [("late_delivery", h(5), None)]


def test_an_estimate_back_on_schedule_resolves_the_early_warning():
    scans = [
        scan(5, "in_transit", estimate=date(2026, 11, 26)),
        scan(30, "in_transit", estimate=date(2026, 11, 23)),
        scan(50, "delivered"),
    ]
    assert found(scans) == [("late_delivery", h(5), h(30))]


def test_an_exception_resolved_then_reopened_is_two_exceptions():
    scans = [
        scan(5, "exception", "weather_delay"),
        scan(10, "in_transit"),
        scan(20, "exception", "weather_delay"),
        scan(30, "in_transit"),
        scan(44, "delivered"),
    ]
    assert found(scans) == [
        ("carrier_exception", h(5), h(10)),
        ("carrier_exception", h(20), h(30)),
    ]


def test_a_kind_opens_once_while_open():
    scans = [scan(5, "exception", "damaged"), scan(6, "exception", "address_issue")]
    assert found(scans, clock_hours=7, promised=None) == [("carrier_exception", h(5), None)]


def test_per_carrier_timings():
    slow = Timing(stalled_after=timedelta(hours=96))
    scans = [scan(5, "in_transit")]
    assert found(scans, clock_hours=80, promised=None, timing=slow) == []
    assert found(scans, clock_hours=101, promised=None, timing=slow) == [("stalled", h(101), None)]


def test_next_due_names_the_timer_rules():
    scans = [scan(5, "in_transit")]
    assert next_due(scans, SHIPPED, PROMISED, TIMING) == sorted(
        [h(77), h(245), end_of_day(PROMISED)]
    )
    assert next_due([*scans, scan(44, "delivered")], SHIPPED, PROMISED, TIMING) == []


# ------------------------------------------------------------------- order of arrival
@given(st.permutations(range(6)), st.integers(0, 5))
@settings(max_examples=100, database=None, deadline=None)
def test_out_of_order_and_duplicate_scans_give_the_same_answer(order, repeated):
    scans = [
        scan(5, "in_transit"),
        scan(20, "exception", "weather_delay"),
        scan(30, "in_transit"),
        scan(110, "in_transit"),
        scan(140, "failure", "recipient_unavailable"),
        scan(160, "delivered"),
    ]
    in_order = Parcel("T1", 0)
    add_shipment(in_order, shipment())
    shuffled = Parcel("T1", 0)
    add_shipment(shuffled, shipment())
    for s in scans:
        add_scan(in_order, _record(s))
        judge(in_order, s.occurred_at, TIMING, s.occurred_at)
    clock = h(0)
    for i in [*order, order[repeated]]:  # one scan twice
        clock = max(clock, scans[i].occurred_at)
        if add_scan(shuffled, _record(scans[i])):
            judge(shuffled, clock, TIMING, scans[i].occurred_at)
    final = h(200)
    latest = judge(shuffled, final, TIMING, final).status
    expected = judge(in_order, final, TIMING, final).status
    assert _comparable(latest) == _comparable(expected)
    assert _states(in_order) == _states(shuffled)
    assert shuffled.status() == "delivered" and len(shuffled.scans) == len(scans)


def _record(s: Scan) -> dict:
    return {
        "event_id": s.event_id,
        "occurred_at": s.occurred_at,
        "status": s.status,
        "status_detail": s.status_detail,
        "estimated_delivery_date": None,
    }


def _states(parcel: Parcel) -> dict:
    """The exceptions published and not withdrawn."""
    return {k: tuple(v) for k, v in parcel.published.items() if v[2] != v[1]}


def _comparable(status: dict) -> dict:
    """A status without what counts the changes that led to it."""
    return {k: v for k, v in status.items() if k not in ("update_id", "version")}


# ----------------------------------------------------------------------- the parcel
def shipment(**changes) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "shipment_id": "S1",
        "order_id": "O1",
        "tracking_number": "T1",
        "carrier": "ups",
        "service": "ground",
        "location_id": "WH-NJ",
        "shipped_at": SHIPPED,
        "promised_delivery_date": PROMISED,
        "origin_country": "US",
        "origin_postal_code": "07094",
        "shipping_country": "US",
        "shipping_region": "NY",
        "tracking_url": "https://t/T1",
        "lines": [],
        **changes,
    }


def test_scans_before_the_shipment_are_kept_and_judged_when_it_arrives():
    parcel = Parcel("T1", 0)
    add_scan(parcel, _record(scan(20, "exception", "damaged")))
    assert judge(parcel, h(20), TIMING, h(20)).status is None  # unknown shipment: wait
    add_shipment(parcel, shipment())
    outcome = judge(parcel, h(21), TIMING, h(21))
    assert [(e["kind"], e["state"]) for e in outcome.exceptions] == [
        ("carrier_exception", "opened")
    ]
    assert outcome.opened == ["carrier_exception"]
    assert outcome.status["status"] == "exception"
    assert outcome.status["open_exceptions"] == ["carrier_exception"]


def test_the_status_follows_event_time_and_an_older_scan_only_joins_the_history():
    parcel = Parcel("T1", 0)
    add_shipment(parcel, shipment())
    add_scan(parcel, _record(scan(40, "out_for_delivery")))
    add_scan(parcel, _record(scan(10, "in_transit")))  # late
    outcome = judge(parcel, h(40), TIMING, h(10))
    assert outcome.status["status"] == "out_for_delivery"
    assert outcome.status["last_scan_at"] == h(40)
    assert len(parcel.scans) == 2


def test_a_duplicate_scan_is_not_added_twice():
    parcel = Parcel("T1", 0)
    record = _record(scan(10, "in_transit"))
    assert add_scan(parcel, record)
    assert not add_scan(parcel, record)


def test_published_exceptions_open_once_and_resolve_once():
    parcel = Parcel("T1", 0)
    add_shipment(parcel, shipment(promised_delivery_date=None))
    add_scan(parcel, _record(scan(20, "exception", "damaged")))
    first = judge(parcel, h(20), TIMING, h(20))
    again = judge(parcel, h(21), TIMING, h(21))
    add_scan(parcel, _record(scan(30, "in_transit")))
    moved = judge(parcel, h(30), TIMING, h(30))
    assert [e["state"] for e in first.exceptions] == ["opened"]
    assert again.exceptions == [] and again.opened == []
    [resolved] = moved.exceptions
    assert (resolved["state"], resolved["resolved_at"]) == ("resolved", h(30))
    assert resolved["exception_id"] == first.exceptions[0]["exception_id"]
    assert resolved["version"] > first.exceptions[0]["version"]


def test_a_timer_rule_opens_at_its_own_time_when_the_clock_passes_it_later():
    parcel = Parcel("T1", 0)
    add_shipment(parcel, shipment(promised_delivery_date=None))
    add_scan(parcel, _record(scan(5, "in_transit")))
    judge(parcel, h(5), TIMING, h(5))
    assert parcel.due is not None
    outcome = judge(parcel, h(100), TIMING, h(100))
    [stalled] = outcome.exceptions
    assert (stalled["kind"], stalled["opened_at"]) == ("stalled", h(77))


def test_the_parcel_survives_its_stored_form():
    import json

    parcel = Parcel("T1", 3)
    add_shipment(parcel, shipment())
    add_scan(
        parcel,
        {**_record(scan(5, "in_transit", estimate=date(2026, 11, 23)))}
        | {"estimated_delivery_date": date(2026, 11, 23)},
    )
    judge(parcel, h(5), TIMING, h(5))
    data = json.loads(json.dumps(parcel.as_dict()))
    assert Parcel.from_dict(data).as_dict() == parcel.as_dict()
    assert Parcel.from_dict(data).latest_estimate() == date(2026, 11, 23)


def test_finding_severity_is_known_for_every_kind():
    for kind in (
        "carrier_exception",
        "failed_attempt",
        "returned_to_sender",
        "stalled",
        "lost",
        "late_delivery",
    ):
        assert Finding(kind, h(0), None, "").severity in ("warning", "critical")
