"""A parcel's carrier scans, from the label to the door (or not): the carrier tracking feed.

The happy path: label created (pre_transit), arrival and departure scans at the origin hub,
a middle or air hub on longer trips, the destination hub, out for delivery, delivered. Per
carrier, some parcels meet a carrier exception (address, damage, weather, customs: the
estimate slips, a few go back to the sender), a failed delivery attempt (a second attempt,
a pickup point, or a return), or go quiet (stalled, then moving again; or lost for good).
Scans reach the feed late now and then, so the feed is not in event-time order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from connectors.sources.simulation.calendar import (
    DAY,
    HOUR,
    MINUTE,
    add_delivery_days,
    at_local,
    day_text,
    local_day,
    next_delivery_day,
    timestamp,
    weekday,
)
from connectors.sources.simulation.world import (
    AIR_HUBS,
    CARRIERS,
    HUBS,
    Place,
    carrier_code,
)
from streams.orders.allocation import great_circle_km

SOURCE = "easypost"
OVERNIGHT = frozenset({"next_day_air", "priority_overnight", "priority_mail_express"})
EXPRESS = OVERNIGHT | {"express_domestic"}
TWO_DAY = frozenset({"2nd_day_air", "2day"})


@dataclass(frozen=True)
class Parcel:
    tracking_number: str
    carrier: str
    service: str
    origin: Place
    destination: Place
    shipped_at: int  # ms: ShipmentCreated
    pickups: tuple[int, ...]  # local hours the carrier collects at the origin
    final_mile_after: int  # ms: no out-for-delivery before this (the order's last shipment)


@dataclass
class _Scan:
    at: int
    status: str
    detail: str
    place: Place
    estimate: int | None  # local day number of the estimated delivery date


@dataclass
class Journey:
    scans: list[tuple[int, int, dict]]  # (arrival ms, occurred ms, canonical event)
    outcome: str  # delivered | returned | stalled | lost | quiet
    exceptions: list[str]


def transit_days(service: str, km: float, rng: random.Random) -> int:
    """Delivery days from pickup to the door."""
    if service in EXPRESS:
        return 1 if service != "express_domestic" or km < 1500 else 2
    if service in TWO_DAY:
        return 1 if km < 250 else 2
    if service == "priority_mail":
        return 1 if km < 400 else (2 if km < 1600 else 3)
    ground = 1 if km < 300 else 2 if km < 800 else 3 if km < 1600 else 4 if km < 2800 else 5
    if service == "ground_advantage":
        ground += rng.random() < 0.3
    elif service == "ecommerce_ground":
        ground += 1
    return ground


def _xy(place: Place) -> tuple[float, float]:
    return place.latitude, place.longitude


def _nearest_hub(place: Place) -> Place:
    return _hub_near(*_half_degrees(place.latitude, place.longitude))


def _half_degrees(latitude: float, longitude: float) -> tuple[float, float]:
    """Coordinates on a half-degree grid: close enough to choose a hub, and few (cached)."""
    return round(latitude * 2) / 2, round(longitude * 2) / 2


@lru_cache(maxsize=4096)
def _hub_near(latitude: float, longitude: float) -> Place:
    return min(HUBS, key=lambda h: great_circle_km(latitude, longitude, *_xy(h)))


def _pickup(parcel: Parcel, rng: random.Random) -> int:
    """The first carrier pickup at least 20 minutes after the label (no Sunday pickups)."""
    origin = parcel.origin
    ready = parcel.shipped_at + 20 * MINUTE
    day = local_day(ready, origin.utc_offset)
    for offset in range(8):
        if weekday(day + offset) == 6:
            continue
        for hour in parcel.pickups or (18,):
            at = at_local(day + offset, hour, origin.utc_offset) + rng.randrange(30 * MINUTE)
            if at >= ready:
                return at
    raise AssertionError("no pickup within a week")


def _happy_path(parcel: Parcel, rng: random.Random, km: float) -> tuple[list[_Scan], int]:
    origin, dest = parcel.origin, parcel.destination
    pickup = _pickup(parcel, rng)
    days = transit_days(parcel.service, km, rng)
    delivery_day = add_delivery_days(local_day(pickup, dest.utc_offset), days)
    estimate = delivery_day
    first_hub, last_hub = _nearest_hub(origin), _nearest_hub(dest)
    scans = [
        _Scan(
            parcel.shipped_at + rng.randrange(MINUTE, 25 * MINUTE),
            "pre_transit",
            "",
            origin,
            estimate,
        )
    ]
    t = pickup + rng.randrange(60 * MINUTE, 180 * MINUTE)
    scans.append(_Scan(t, "in_transit", "arrived_at_facility", first_hub, estimate))
    t += rng.randrange(90 * MINUTE, 300 * MINUTE)
    scans.append(_Scan(t, "in_transit", "departed_facility", first_hub, estimate))
    middle = None
    if parcel.service in EXPRESS:
        middle = AIR_HUBS[parcel.carrier]
    elif days >= 3:
        mid = ((origin.latitude + dest.latitude) / 2, (origin.longitude + dest.longitude) / 2)
        middle = _hub_near(*_half_degrees(*mid))
    if middle is not None and middle not in (first_hub, last_hub):
        arrive_last = at_local(delivery_day, 2, dest.utc_offset)
        t = max(t + 2 * HOUR, (t + arrive_last) // 2 - rng.randrange(120 * MINUTE))
        scans.append(_Scan(t, "in_transit", "arrived_at_facility", middle, estimate))
        t += rng.randrange(60 * MINUTE, 240 * MINUTE)
        scans.append(_Scan(t, "in_transit", "departed_facility", middle, estimate))
    if last_hub != first_hub:
        t = max(t + HOUR, at_local(delivery_day, rng.uniform(0.5, 4.5), dest.utc_offset))
        scans.append(_Scan(t, "in_transit", "arrived_at_facility", last_hub, estimate))
    out = max(t + 45 * MINUTE, at_local(delivery_day, rng.uniform(6.5, 9.5), dest.utc_offset))
    scans.append(_Scan(out, "out_for_delivery", "", dest, None))
    scans.append(_Scan(out + rng.randrange(60 * MINUTE, 600 * MINUTE), "delivered", "", dest, None))
    _increasing(scans, rng)
    return scans, estimate


def _increasing(scans: list[_Scan], rng: random.Random) -> None:
    """No two scans of a parcel at the same time or out of order (in event time)."""
    for i in range(1, len(scans)):
        if scans[i].at <= scans[i - 1].at:
            scans[i].at = scans[i - 1].at + rng.randrange(10 * MINUTE, 60 * MINUTE)


def _final_index(scans: list[_Scan]) -> int:
    """Where the final mile starts: the destination hub, else out for delivery."""
    out = next(i for i, s in enumerate(scans) if s.status == "out_for_delivery")
    return out - 1 if out >= 4 and scans[out - 1].detail == "arrived_at_facility" else out


def _delay(scans: list[_Scan], start: int, days: int, revised: int | None) -> None:
    """Moves the scans from `start` on by `days` (keeping them off Sundays for the final
    mile) and gives the moved in-transit scans the revised estimate."""
    for scan in scans[start:]:
        scan.at += days * DAY
        if (
            scan.status in ("out_for_delivery", "delivered")
            and weekday(local_day(scan.at, scan.place.utc_offset)) == 6
        ):
            scan.at += DAY
        if scan.estimate is not None and revised is not None:
            scan.estimate = revised


def journey(parcel: Parcel, rng: random.Random) -> Journey:
    profile = CARRIERS[parcel.carrier]
    km = great_circle_km(*_xy(parcel.origin), *_xy(parcel.destination))
    scans, estimate = _happy_path(parcel, rng, km)
    dest = parcel.destination
    final = _final_index(scans)
    if scans[final].at < parcel.final_mile_after:  # another part of the order ships later
        days = math.ceil((parcel.final_mile_after - scans[final].at) / DAY)
        estimate = add_delivery_days(estimate, days)
        for scan in scans:
            scan.estimate = estimate if scan.estimate is not None else None
        _delay(scans, final, days, None)
    outcome, exceptions = "delivered", []
    roll = rng.random()
    if roll < profile.quiet:
        outcome = _go_quiet(scans, rng, final, estimate)
    elif roll < profile.quiet + profile.exception:
        detail, outcome = _exception(scans, rng, final, estimate, parcel.carrier)
        exceptions.append(detail)
    elif roll < profile.quiet + profile.exception + 0.03:  # a quiet slip: the estimate moves
        at = rng.randrange(2, final)
        revised = add_delivery_days(estimate, 1)
        scans.insert(at + 1, _Scan(scans[at].at + HOUR, "in_transit", "", scans[at].place, revised))
        _delay(scans, at + 2, 1, revised)
    if outcome == "delivered" and rng.random() < profile.failure:
        outcome = _failed_attempt(scans, rng, dest)
        exceptions.append("failed_attempt")
    _increasing(scans, rng)
    return Journey(_events(parcel, scans, rng, profile.late_scan), outcome, exceptions)


def _go_quiet(scans: list[_Scan], rng: random.Random, final: int, estimate: int) -> str:
    cut = rng.randrange(2, final + 1)  # the last scan seen is in transit
    kind = rng.random()
    if kind < 0.5:  # stalled for days, then moving again
        gap = rng.randint(4, 6)
        _delay(scans, cut, gap, add_delivery_days(estimate, gap))
        return "stalled"
    del scans[cut:]
    if kind < 0.65:  # the carrier finally declares it lost
        last = scans[-1]
        at = last.at + rng.randint(7, 9) * DAY + rng.randint(0, 8) * HOUR
        scans.append(_Scan(at, "exception", "lost", last.place, None))
        return "lost"
    return "quiet"


_EXCEPTION_DELAY = {"address_issue": (1, 2), "damaged": (1, 3), "weather_delay": (1, 2)}
_EXCEPTION_DELAY["customs_hold"] = (1, 3)


def _exception(
    scans: list[_Scan], rng: random.Random, final: int, estimate: int, carrier: str
) -> tuple[str, str]:
    details = CARRIERS[carrier].exception_details
    detail = rng.choices([d for d, _ in details], [w for _, w in details])[0]
    at = rng.randrange(1, final) if detail != "address_issue" else final
    previous = scans[at]
    days = rng.randint(*_EXCEPTION_DELAY[detail])
    revised = add_delivery_days(estimate, days)
    when = previous.at + rng.randrange(20 * MINUTE, 240 * MINUTE)
    place = previous.place if detail != "address_issue" else scans[-1].place
    if detail == "address_issue":
        when = max(when, scans[final].at + rng.randrange(30 * MINUTE, 180 * MINUTE))
    scans.insert(at + 1, _Scan(when, "exception", detail, place, revised))
    returned = (detail == "address_issue" and rng.random() < 0.35) or (
        detail == "damaged" and rng.random() < 0.4
    )
    if returned:
        del scans[at + 2 :]
        back = when + rng.randint(1, 2) * DAY + rng.randint(0, 6) * HOUR
        scans.append(_Scan(back, "return_to_sender", detail, place, None))
        return detail, "returned"
    _delay(scans, at + 2, days, revised)
    return detail, "delivered"


def _failed_attempt(scans: list[_Scan], rng: random.Random, dest: Place) -> str:
    delivered = scans.pop()
    out = scans[-1]
    reason = "delivery_attempted" if rng.random() < 0.6 else "recipient_unavailable"
    scans.append(_Scan(delivered.at, "failure", reason, dest, None))
    day = next_delivery_day(local_day(delivered.at, dest.utc_offset) + 1)
    again = at_local(day, rng.uniform(6.5, 9.5), dest.utc_offset)
    scans.append(_Scan(again, "out_for_delivery", "", dest, None))
    attempt = again + rng.randrange(60 * MINUTE, 600 * MINUTE)
    if rng.random() < 0.8:
        scans.append(_Scan(attempt, "delivered", "", dest, None))
        return "delivered"
    scans.append(_Scan(attempt, "failure", reason, dest, None))
    day = next_delivery_day(day + 1)
    if rng.random() < 0.5:  # held at a pickup point, collected a few days later
        held = at_local(day, rng.uniform(8, 11), dest.utc_offset)
        scans.append(_Scan(held, "available_for_pickup", "", out.place, None))
        collected = held + rng.randint(1, 3) * DAY + rng.randint(0, 6) * HOUR
        scans.append(_Scan(collected, "delivered", "", out.place, None))
        return "delivered"
    back = at_local(day, rng.uniform(8, 16), dest.utc_offset)
    scans.append(_Scan(back, "return_to_sender", "recipient_unavailable", dest, None))
    return "returned"


def _events(
    parcel: Parcel, scans: list[_Scan], rng: random.Random, late_share: float
) -> list[tuple[int, int, dict]]:
    delivered_at = next((s.at for s in scans if s.status == "delivered"), None)
    events = []
    for scan in scans:
        code, description = carrier_code(parcel.carrier, scan.status, scan.detail)
        event = {
            "event_id": "",
            "type": "CarrierScan",
            "occurred_at": timestamp(scan.at),
            "source": SOURCE,
            "tracking_number": parcel.tracking_number,
            "carrier": parcel.carrier,
            "status": scan.status,
        }
        if scan.detail:
            event["status_detail"] = scan.detail
        event["carrier_code"] = code
        event["description"] = description
        event["location"] = scan.place.scan_location
        if scan.estimate is not None:
            event["estimated_delivery_date"] = day_text(scan.estimate)
        arrival = scan.at
        if rng.random() < late_share:  # minutes to hours late, log-uniform
            arrival += int(math.exp(rng.uniform(math.log(5), math.log(480))) * MINUTE)
        if scan.status == "out_for_delivery" and delivered_at and rng.random() < 0.03:
            arrival = max(
                arrival, delivered_at + rng.randrange(10 * MINUTE, 180 * MINUTE)
            )  # after it
        events.append((arrival, scan.at, event))
    return events
