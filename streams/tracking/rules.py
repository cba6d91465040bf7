"""Delivery-exception rules: what a parcel's scan history says went wrong, and when. Pure.

The rules read the whole history in event-time order, so the answer does not depend on
the order scans arrived in: a late scan joins the history where its time puts it, and an
older scan never overrides a newer one. Timer rules (stalled, lost, late_delivery) open at
the time the rule names (the last scan + 72 h, the end of the promised day), whenever the
clock reaches it. An exception opens once per kind while it is open, resolves when the
parcel moves on, and may open again later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

FAILED_ATTEMPT_DETAILS = frozenset(
    {"delivery_attempted", "recipient_unavailable", "recipient_refused", "no_access"}
)
TROUBLE = frozenset({"exception", "failure"})
MOVING = frozenset({"in_transit", "out_for_delivery"})  # what can stall
FINAL = frozenset({"delivered", "cancelled"})
SEVERITY = {
    "carrier_exception": "warning",
    "failed_attempt": "warning",
    "returned_to_sender": "critical",
    "stalled": "warning",
    "lost": "critical",
    "late_delivery": "warning",
}


@dataclass(frozen=True)
class Scan:
    event_id: str
    occurred_at: datetime
    status: str
    status_detail: str = ""
    carrier_code: str = ""
    estimated_delivery_date: date | None = None

    @property
    def order_key(self) -> tuple[datetime, str]:
        return self.occurred_at, self.event_id


@dataclass(frozen=True)
class Timing:
    """A carrier's rule timings (the defaults, or a carrier's overrides)."""

    stalled_after: timedelta = timedelta(hours=72)
    lost_after: timedelta = timedelta(days=10)


@dataclass(frozen=True)
class Finding:
    kind: str
    opened_at: datetime
    resolved_at: datetime | None
    detail: str
    status_detail: str = ""
    carrier_code: str = ""

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


def end_of_day(day: date) -> datetime:
    """The last millisecond of a date, UTC: a promise "by this day" holds until then."""
    return datetime.combine(day, time(23, 59, 59, 999000), UTC)


class _Book:
    """The exceptions found so far while walking the history."""

    def __init__(self) -> None:
        self.open: dict[str, Finding] = {}
        self.closed: list[Finding] = []

    def open_(self, kind: str, at: datetime, detail: str, scan: Scan | None = None) -> None:
        if kind not in self.open:
            code = (scan.status_detail, scan.carrier_code) if scan else ("", "")
            self.open[kind] = Finding(kind, at, None, detail, *code)

    def resolve(self, kind: str, at: datetime) -> None:
        finding = self.open.pop(kind, None)
        if finding is not None:
            self.closed.append(replace(finding, resolved_at=at))

    def all(self) -> list[Finding]:
        return sorted([*self.closed, *self.open.values()], key=lambda f: (f.opened_at, f.kind))


def findings(
    scans: list[Scan],
    shipped_at: datetime,
    promised: date | None,
    clock: datetime,
    timing: Timing,
) -> list[Finding]:
    """Every exception of the parcel's history up to the clock, oldest first."""
    book = _Book()
    promise_ends = end_of_day(promised) if promised else None
    last: Scan | None = None
    delivered = False
    for scan in sorted(scans, key=lambda s: s.order_key):
        _timers(book, last, shipped_at, promise_ends, scan.occurred_at, timing, delivered)
        _scan(book, scan, promised, promise_ends)
        delivered = delivered or scan.status == "delivered"
        last = scan
    _timers(book, last, shipped_at, promise_ends, clock, timing, delivered, until_clock=True)
    return book.all()


def _timers(
    book: _Book,
    last: Scan | None,
    shipped_at: datetime,
    promise_ends: datetime | None,
    now: datetime,
    timing: Timing,
    delivered: bool,
    until_clock: bool = False,
) -> None:
    """The timer rules that fired between the last scan and `now` (the next scan's time,
    or the clock after the last scan: a rule due exactly at the clock has fired)."""

    def passed(due: datetime) -> bool:
        return now >= due if until_clock else now > due

    if delivered or (last is not None and last.status in FINAL):
        return
    quiet_since = last.occurred_at if last else shipped_at
    if last is not None and last.status in MOVING and passed(quiet_since + timing.stalled_after):
        hours = timing.stalled_after / timedelta(hours=1)
        book.open_("stalled", quiet_since + timing.stalled_after, f"no scan for {hours:g} hours")
    if passed(quiet_since + timing.lost_after):
        days = timing.lost_after / timedelta(days=1)
        book.open_("lost", quiet_since + timing.lost_after, f"no scan for {days:g} days")
    if promise_ends is not None and passed(promise_ends):
        book.open_("late_delivery", promise_ends, "the promised delivery date has passed")


def _scan(book: _Book, scan: Scan, promised: date | None, promise_ends) -> None:
    at, status, detail = scan.occurred_at, scan.status, scan.status_detail
    book.resolve("stalled", at)  # any scan: the parcel is moving again
    if detail != "lost":
        book.resolve("lost", at)
    if status == "delivered":
        for kind in list(book.open):
            book.resolve(kind, at)
        return
    if status in TROUBLE:
        if detail in FAILED_ATTEMPT_DETAILS:
            book.open_("failed_attempt", at, f"delivery attempt failed: {detail}", scan)
        elif detail == "lost":
            book.open_("lost", at, "the carrier reports the parcel lost", scan)
        else:
            book.open_("carrier_exception", at, f"carrier exception: {detail or status}", scan)
    else:  # the parcel moved on
        book.resolve("carrier_exception", at)
        book.resolve("failed_attempt", at)
    if status == "return_to_sender":
        book.open_("returned_to_sender", at, "returned to sender", scan)
    estimate = scan.estimated_delivery_date
    if estimate is not None and promised is not None:
        if estimate > promised:
            detail = f"carrier estimate {estimate} is after the promised {promised}"
            book.open_("late_delivery", at, detail, scan)
        elif at <= promise_ends:  # back on schedule before the promise ran out
            book.resolve("late_delivery", at)


def next_due(
    scans: list[Scan], shipped_at: datetime, promised: date | None, timing: Timing
) -> list[datetime]:
    """The times at which a timer rule could fire next (for the parcel's timer)."""
    ordered = sorted(scans, key=lambda s: s.order_key)
    last = ordered[-1] if ordered else None
    if any(s.status == "delivered" for s in ordered) or (last and last.status in FINAL):
        return []
    quiet_since = last.occurred_at if last else shipped_at
    due = [quiet_since + timing.lost_after]
    if last is not None and last.status in MOVING:
        due.append(quiet_since + timing.stalled_after)
    if promised is not None:
        due.append(end_of_day(promised))
    return sorted(due)
