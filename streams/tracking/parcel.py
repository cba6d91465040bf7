"""One parcel as the tracking partition keeps it, and what a scan, its shipment or the clock
does to it. Pure: the agents store the value and publish the records returned.

A parcel is keyed by tracking number. Scans may arrive before the shipment that names the
parcel (carriers are fast, warehouses batch): they are kept, and the parcel is judged once
its shipment is known. Every change re-reads the whole history (streams/tracking/rules.py)
and publishes what differs from what was published before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from schemas.canonical import from_ms, to_ms
from streams.applied import AppliedOffsets
from streams.orders.effects import derived_id
from streams.tracking.rules import Finding, Scan, Timing, findings, next_due

MAX_SCANS = 200  # a parcel's history is short; this bounds a misbehaving feed


@dataclass
class Parcel(AppliedOffsets):
    tracking_number: str
    partition: int
    shipment: dict | None = None  # ShipmentRecorded (times as epoch ms), None until known
    scans: list[dict] = field(default_factory=list)  # CarrierScan records (times as ms)
    # exception_id -> [kind, opened ms, resolved ms or None]: what has been published
    published: dict[str, list] = field(default_factory=dict)
    due: int | None = None  # epoch ms of the next timer rule, if any
    version: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, list[list[str]]] = field(default_factory=dict)  # streams/applied.py

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> Parcel:
        return cls(**data)

    # --- reading -------------------------------------------------------------------------
    def history(self) -> list[Scan]:
        return [
            Scan(
                s["event_id"],
                from_ms(s["occurred_at"]),
                s["status"],
                s.get("status_detail") or "",
                s.get("carrier_code") or "",
                _date(s.get("estimated_delivery_date")),
            )
            for s in self.scans
        ]

    def latest_scan(self) -> dict | None:
        return max(self.scans, key=lambda s: (s["occurred_at"], s["event_id"]), default=None)

    def status(self) -> str:
        latest = self.latest_scan()
        return latest["status"] if latest else "label_created"

    def delivered_at(self) -> datetime | None:
        times = [s["occurred_at"] for s in self.scans if s["status"] == "delivered"]
        return from_ms(min(times)) if times else None

    def latest_estimate(self) -> date | None:
        with_estimate = [s for s in self.scans if s.get("estimated_delivery_date")]
        if not with_estimate:
            return None
        latest = max(with_estimate, key=lambda s: (s["occurred_at"], s["event_id"]))
        return _date(latest["estimated_delivery_date"])

    def promised(self) -> date | None:
        return _date(self.shipment.get("promised_delivery_date")) if self.shipment else None


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


@dataclass
class Outcome:
    status: dict | None = None  # ShipmentStatus, keyed by order
    exceptions: list[dict] = field(default_factory=list)  # DeliveryException
    opened: list[str] = field(default_factory=list)  # kinds opened now (to tell the customer)


def add_scan(parcel: Parcel, record: dict) -> bool:
    """Joins a CarrierScan to the history; False for a scan already there."""
    if any(s["event_id"] == record["event_id"] for s in parcel.scans):
        return False
    estimate = record.get("estimated_delivery_date")
    parcel.scans.append(
        {
            "event_id": record["event_id"],
            "occurred_at": to_ms(record["occurred_at"]),
            "status": record["status"],
            "status_detail": record.get("status_detail") or "",
            "carrier_code": record.get("carrier_code") or "",
            "description": record.get("description") or "",
            "location": dict(record.get("location") or {}),
            "estimated_delivery_date": estimate.isoformat() if estimate else None,
        }
    )
    if len(parcel.scans) > MAX_SCANS:
        parcel.scans.sort(key=lambda s: (s["occurred_at"], s["event_id"]))
        del parcel.scans[0]
    return True


def add_shipment(parcel: Parcel, record: dict) -> None:
    promised = record.get("promised_delivery_date")
    parcel.shipment = {
        **{k: v for k, v in record.items() if k not in ("lines", "shipped_at")},
        "shipped_at": to_ms(record["shipped_at"]),
        "promised_delivery_date": promised.isoformat() if promised else None,
    }


def judge(parcel: Parcel, clock: datetime, timing: Timing, at: datetime) -> Outcome:
    """Re-reads the history at the clock; the records for what changed. `at` is the event
    time of the change (a scan's time, or a timer's due time)."""
    outcome = Outcome()
    if parcel.shipment is None:
        return outcome
    shipped_at = from_ms(parcel.shipment["shipped_at"])
    scans = parcel.history()
    found = findings(scans, shipped_at, parcel.promised(), clock, timing)
    current = {_exception_id(parcel, f): f for f in found}
    for exception_id, finding in current.items():
        before = parcel.published.get(exception_id)
        resolved = finding.resolved_at and to_ms(finding.resolved_at)
        if before is None:
            outcome.exceptions.append(_record(parcel, exception_id, finding, "opened", None, at))
            outcome.opened.append(finding.kind)
        if finding.resolved_at is not None and (before is None or before[2] != resolved):
            outcome.exceptions.append(
                _record(parcel, exception_id, finding, "resolved", finding.resolved_at, at)
            )
        parcel.published[exception_id] = [finding.kind, to_ms(finding.opened_at), resolved]
    for exception_id, (kind, opened, resolved) in list(parcel.published.items()):
        if exception_id not in current and resolved != opened:  # a late scan says otherwise
            withdrawn = Finding(kind, from_ms(opened), from_ms(opened), "withdrawn: late scans")
            outcome.exceptions.append(
                _record(parcel, exception_id, withdrawn, "withdrawn", withdrawn.opened_at, at)
            )
            parcel.published[exception_id][2] = opened
    due = [d for d in next_due(scans, shipped_at, parcel.promised(), timing) if d > clock]
    parcel.due = to_ms(due[0]) if due else None
    parcel.version += 1
    outcome.status = _status(parcel, at, outcome.opened)
    return outcome


def _exception_id(parcel: Parcel, finding: Finding) -> str:
    return derived_id(parcel.tracking_number, finding.kind, str(to_ms(finding.opened_at)))


def _record(
    parcel: Parcel, exception_id: str, finding: Finding, state: str, resolved_at, at
) -> dict:
    shipment = parcel.shipment or {}
    return {
        "exception_id": exception_id,
        "kind": finding.kind,
        "state": state,
        "severity": finding.severity,
        "tracking_number": parcel.tracking_number,
        "shipment_id": shipment.get("shipment_id", ""),
        "order_id": shipment.get("order_id", ""),
        "carrier": shipment.get("carrier", ""),
        "status_detail": finding.status_detail,
        "carrier_code": finding.carrier_code,
        "detail": finding.detail,
        "region": shipment.get("shipping_region", ""),
        "origin_location_id": shipment.get("location_id", ""),
        "opened_at": finding.opened_at,
        "resolved_at": resolved_at,
        "occurred_at": at,
        "version": parcel.version + 1 + (state != "opened"),
    }


def _status(parcel: Parcel, at: datetime, opened: list[str]) -> dict:
    shipment = parcel.shipment or {}
    latest = parcel.latest_scan()
    return {
        "update_id": derived_id(parcel.tracking_number, "status", str(parcel.version)),
        "shipment_id": shipment["shipment_id"],
        "order_id": shipment["order_id"],
        "tracking_number": parcel.tracking_number,
        "carrier": shipment["carrier"],
        "service": shipment["service"],
        "location_id": shipment["location_id"],
        "status": parcel.status(),
        "status_detail": (latest or {}).get("status_detail", ""),
        "shipped_at": from_ms(shipment["shipped_at"]),
        "delivered_at": parcel.delivered_at(),
        "promised_delivery_date": parcel.promised(),
        "latest_estimated_delivery_date": parcel.latest_estimate(),
        "last_scan_at": from_ms(latest["occurred_at"]) if latest else None,
        "origin_country": shipment["origin_country"],
        "origin_postal_code": shipment["origin_postal_code"],
        "shipping_country": shipment["shipping_country"],
        "shipping_region": shipment["shipping_region"],
        "open_exceptions": sorted(
            {kind for kind, _, resolved in parcel.published.values() if resolved is None}
        ),
        "opened_exceptions": opened,
        "occurred_at": at,
        "version": parcel.version,
    }
