"""Event time in integer milliseconds since the epoch (UTC), and the local working calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from schemas.canonical import format_timestamp

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
SUNDAY = 6


def to_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def timestamp(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the canonical events carry it."""
    return format_timestamp(_EPOCH + timedelta(milliseconds=ms))


def local_day(ms: int, utc_offset: int) -> int:
    """Days since 1970-01-01 of the local date."""
    return (ms + utc_offset * HOUR) // DAY


def weekday(day: int) -> int:
    """Monday 0 ... Sunday 6 of a local day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


@lru_cache(maxsize=4096)
def day_text(day: int) -> str:
    return (_EPOCH_DATE + timedelta(days=day)).isoformat()


def at_local(day: int, hour: float, utc_offset: int) -> int:
    """UTC ms of a local clock time on a local day."""
    return day * DAY + int(hour * HOUR) - utc_offset * HOUR


def local_hour(ms: int, utc_offset: int) -> float:
    return ((ms + utc_offset * HOUR) % DAY) / HOUR


def within_hours(ms: int, utc_offset: int, opens: int, closes: int) -> int:
    """The earliest time at or after `ms` when a site open opens..closes (local) is open."""
    day = local_day(ms, utc_offset)
    hour = local_hour(ms, utc_offset)
    if hour < opens:
        return at_local(day, opens, utc_offset)
    if hour >= closes:
        return at_local(day + 1, opens, utc_offset)
    return ms


def add_delivery_days(day: int, days: int) -> int:
    """`days` delivery days (Monday to Saturday) after a local day."""
    while days > 0:
        day += 1
        if weekday(day) != SUNDAY:
            days -= 1
    return day


def next_delivery_day(day: int) -> int:
    return day if weekday(day) != SUNDAY else day + 1
