"""The customer's tracking page: what a carrier's public page would show about a parcel, and
nothing more. Pure: a stored parcel and the time now in, a JSON-ready dict or HTML out
(streams/web.py serves them at /track/{tracking_number}).

Shown: the status in plain words, the scans newest first (time, city and region, what
happened), the carrier's estimate against the promised date, the open delivery exceptions in
customer words and a link to the carrier's own page. Never shown: the order, its lines, the
customer's name, email or address, the warehouse, postal codes, internal ids. Everything that
comes from the data is HTML-escaped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape
from urllib.parse import urlsplit

from schemas.canonical import from_ms
from streams.tracking.parcel import Parcel
from streams.tracking.rules import end_of_day

# a scan's normalized status -> what the customer reads
STATUS_WORDS = {
    "label_created": "Label created",
    "pre_transit": "Label created, waiting for the carrier",
    "in_transit": "On its way",
    "out_for_delivery": "Out for delivery",
    "delivered": "Delivered",
    "available_for_pickup": "Ready for pickup",
    "return_to_sender": "Being returned to sender",
    "failure": "Delivery problem",
    "exception": "Delayed by the carrier",
    "cancelled": "Shipment cancelled",
}
# the carrier's snake_case reasons we know the words for; others are spelled out as given
DETAIL_WORDS = {
    "arrived_at_facility": "Arrived at a carrier facility",
    "departed_facility": "Left a carrier facility",
    "delivery_attempted": "Delivery attempted",
    "recipient_unavailable": "Nobody was available to receive it",
    "recipient_refused": "Delivery was refused",
    "no_access": "The carrier could not reach the delivery address",
    "weather_delay": "Weather delay",
    "customs_hold": "Held at customs",
    "address_issue": "Problem with the delivery address",
}
# an open delivery exception -> (headline, explanation) for the customer
EXCEPTION_WORDS = {
    "failed_attempt": (
        "Delivery attempt failed",
        "The carrier tried to deliver your parcel but could not. They usually try again on "
        "the next working day.",
    ),
    "carrier_exception": (
        "Held up in transit",
        "The carrier reported a problem, such as weather or customs, that is holding up your "
        "parcel.",
    ),
    "late_delivery": ("Delayed", "Delivery is later than the date we promised."),
    "returned_to_sender": (
        "Returned to sender",
        "The carrier is sending your parcel back to us. We will contact you about a "
        "replacement or a refund.",
    ),
    "stalled": (
        "No recent updates",
        "The carrier has not scanned your parcel for a few days. We are looking into it.",
    ),
    "lost": (
        "We are looking for your parcel",
        "The carrier can no longer locate your parcel. We are investigating and will contact you.",
    ),
}
UNKNOWN_EXCEPTION = ("Delivery problem", "Something is not going as planned with this parcel.")
CARRIER_NAMES = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL"}
NOT_DELIVERING = frozenset({"return_to_sender", "cancelled"})
TROUBLE_STATUSES = frozenset({"return_to_sender", "failure", "exception"})  # shown in red


def _parcel(value: Parcel | dict) -> Parcel:
    return value if isinstance(value, Parcel) else Parcel.from_dict(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _words(code: str, known: dict[str, str]) -> str:
    return known.get(code) or code.replace("_", " ").strip().capitalize()


def carrier_name(carrier: str) -> str:
    return CARRIER_NAMES.get(carrier.lower(), carrier.upper() if len(carrier) <= 4 else carrier)


def safe_url(url: str | None) -> str | None:
    """The carrier's page only when it is an absolute http(s) URL (never javascript: ...)."""
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _event(scan: dict) -> dict:
    location = scan.get("location") or {}
    place = ", ".join(p for p in (location.get("city"), location.get("region")) if p)
    detail = scan.get("status_detail") or ""
    status_text = STATUS_WORDS.get(scan["status"], _words(scan["status"], {}))
    description = scan.get("description") or (
        f"{status_text}: {_words(detail, DETAIL_WORDS)}" if detail else status_text
    )
    return {
        "occurred_at": _iso(from_ms(scan["occurred_at"])),
        "status": scan["status"],
        "status_text": status_text,
        "description": description,
        "location": {
            "city": location.get("city") or None,
            "region": location.get("region") or None,
            "country": location.get("country") or None,
        },
        "place": place or None,
    }


def _exceptions(parcel: Parcel) -> list[dict]:
    open_ = sorted(
        (opened, kind) for kind, opened, resolved in parcel.published.values() if resolved is None
    )
    shown, seen = [], set()
    for opened, kind in open_:
        if kind in seen:
            continue
        seen.add(kind)
        title, message = EXCEPTION_WORDS.get(kind, UNKNOWN_EXCEPTION)
        shown.append(
            {"kind": kind, "title": title, "message": message, "since": _iso(from_ms(opened))}
        )
    return shown


def _outlook(parcel: Parcel, now: datetime, exceptions: list[dict]) -> tuple[str, str]:
    """A code and the sentence comparing delivery (or its estimate) with the promise."""
    promised, estimate = parcel.promised(), parcel.latest_estimate()
    delivered = parcel.delivered_at()
    if delivered is not None:
        if promised is None:
            return "delivered", f"Delivered on {_day(delivered.date())}."
        if delivered <= end_of_day(promised):
            return "delivered_on_time", (
                f"Delivered on {_day(delivered.date())}, on time (promised by {_day(promised)})."
            )
        return "delivered_late", (
            f"Delivered on {_day(delivered.date())}, later than promised "
            f"({_day(promised)}). We are sorry for the delay."
        )
    if parcel.status() in NOT_DELIVERING:
        return "not_delivering", "This parcel is no longer on its way to you."
    if promised is None and estimate is None:
        return "unknown", "No delivery date yet."
    late = promised is not None and (
        now > end_of_day(promised)
        or (estimate is not None and estimate > promised)
        or any(e["kind"] == "late_delivery" for e in exceptions)
    )
    parts = []
    if estimate is not None:
        parts.append(f"The carrier expects to deliver on {_day(estimate)}.")
    if promised is not None:
        parts.append(f"We promised delivery by {_day(promised)}.")
    if late:
        parts.append("It is running late.")
        return "late", " ".join(parts)
    return ("on_time" if promised is not None else "estimated"), " ".join(parts)


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _time(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{_day(moment.date())}, {moment:%H:%M} UTC"


def tracking_view(value: Parcel | dict, now: datetime) -> dict:
    """The public JSON of a parcel: the same data the HTML page shows."""
    parcel = _parcel(value)
    shipment = parcel.shipment or {}
    scans = sorted(parcel.scans, key=lambda s: (s["occurred_at"], s["event_id"]), reverse=True)
    status = parcel.status()
    exceptions = _exceptions(parcel)
    outlook, outlook_text = _outlook(parcel, now, exceptions)
    promised, estimate = parcel.promised(), parcel.latest_estimate()
    carrier = shipment.get("carrier") or ""
    return {
        "tracking_number": parcel.tracking_number,
        "carrier": carrier or None,
        "carrier_name": carrier_name(carrier) if carrier else None,
        "service": shipment.get("service") or None,
        "carrier_url": safe_url(shipment.get("tracking_url")),
        "status": status,
        "status_text": STATUS_WORDS.get(status, _words(status, {})),
        "shipped_at": _iso(from_ms(shipment["shipped_at"])) if "shipped_at" in shipment else None,
        "delivered_at": _iso(parcel.delivered_at()),
        "promised_delivery_date": promised.isoformat() if promised else None,
        "estimated_delivery_date": estimate.isoformat() if estimate else None,
        "outlook": outlook,
        "outlook_text": outlook_text,
        "exceptions": exceptions,
        "events": [_event(s) for s in scans],
        "as_of": _iso(now),
    }


def not_found_view(tracking_number: str) -> dict:
    return {
        "tracking_number": tracking_number,
        "error": "not_found",
        "message": "We could not find a parcel with this tracking number.",
    }


# ------------------------------------------------------------------------------------ HTML
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f5f6f8;color:#1d2330}
main{max-width:42rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.1rem;font-weight:500;color:#5a6275;margin:0 0 .25rem}
.status{font-size:2rem;font-weight:700;margin:.25rem 0 .5rem}
.status.delivered{color:#1c7c3c}.status.trouble{color:#b3261e}
.card{background:#fff;border-radius:.75rem;padding:1rem 1.25rem;margin:1rem 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card h2{font-size:1rem;margin:0 0 .5rem}
.exception{border-left:4px solid #b3261e;padding:.25rem .75rem;margin:.5rem 0;list-style:none}
.exception strong{display:block}
ul.exceptions,ol.timeline{padding:0;margin:0}
ol.timeline li{list-style:none;border-left:2px solid #c9cede;padding:0 0 1rem 1rem;
position:relative}
ol.timeline li::before{content:"";position:absolute;left:-7px;top:.2rem;width:12px;
height:12px;border-radius:50%;background:#c9cede}
ol.timeline li:first-child::before{background:#1d2330}
.when{font-size:.85rem;color:#5a6275}.where{font-size:.9rem;color:#5a6275}
.what{font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{color:#5a6275}dd{margin:0;font-weight:600}
a.carrier{display:inline-block;margin-top:.5rem;color:#0b57d0}
footer{font-size:.8rem;color:#5a6275;margin-top:2rem}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="robots" content="noindex">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )


def render_html(value: Parcel | dict, now: datetime) -> str:
    """The customer's page for a parcel, from the same view as the JSON."""
    view = tracking_view(value, now)
    e = escape
    tone = ""
    if view["status"] == "delivered":
        tone = "delivered"
    elif view["exceptions"] or view["status"] in TROUBLE_STATUSES:
        tone = "trouble"
    carrier = view["carrier_name"] or "the carrier"
    parts = [
        "<header>\n"
        f'<h1>Parcel <span id="tracking-number">{e(view["tracking_number"])}</span>'
        + (f" with {e(carrier)}" if view["carrier_name"] else "")
        + "</h1>\n"
        f'<p class="status {tone}" id="status">{e(view["status_text"])}</p>\n'
        f'<p id="outlook" data-outlook="{e(view["outlook"])}">{e(view["outlook_text"])}</p>\n'
        "</header>\n"
    ]
    if view["exceptions"]:
        items = "".join(
            f'<li class="exception" data-kind="{e(x["kind"])}"><strong>{e(x["title"])}</strong>'
            f"{e(x['message'])}</li>\n"
            for x in view["exceptions"]
        )
        parts.append(
            '<section class="card" id="exceptions">\n<h2>Needs attention</h2>\n'
            f'<ul class="exceptions">\n{items}</ul>\n</section>\n'
        )
    dates = []
    if view["estimated_delivery_date"]:
        estimate = date.fromisoformat(view["estimated_delivery_date"])
        dates.append(f'<dt>Carrier\'s estimate</dt><dd id="estimate">{e(_day(estimate))}</dd>')
    if view["promised_delivery_date"]:
        promised = date.fromisoformat(view["promised_delivery_date"])
        dates.append(f'<dt>Promised by</dt><dd id="promised">{e(_day(promised))}</dd>')
    if view["delivered_at"]:
        dates.append(f'<dt>Delivered</dt><dd id="delivered">{e(_time(view["delivered_at"]))}</dd>')
    if dates:
        parts.append(
            '<section class="card" id="dates">\n<h2>Delivery date</h2>\n'
            f"<dl>{''.join(dates)}</dl>\n</section>\n"
        )
    if view["events"]:
        items = "".join(
            f'<li class="scan" data-status="{e(x["status"])}">'
            f'<div class="when"><time datetime="{e(x["occurred_at"])}">'
            f"{e(_time(x['occurred_at']))}</time></div>"
            f'<div class="what">{e(x["description"])}</div>'
            + (f'<div class="where">{e(x["place"])}</div>' if x["place"] else "")
            + "</li>\n"
            for x in view["events"]
        )
        timeline = f'<ol class="timeline" id="timeline">\n{items}</ol>\n'
    else:
        timeline = '<p id="timeline-empty">The carrier has not scanned this parcel yet.</p>\n'
    parts.append(f'<section class="card">\n<h2>Tracking history</h2>\n{timeline}</section>\n')
    if view["carrier_url"]:
        parts.append(
            f'<p><a class="carrier" id="carrier-link" href="{e(view["carrier_url"])}" '
            f'rel="noopener noreferrer nofollow" target="_blank">'
            f"Track this parcel on {e(carrier)}'s website</a></p>\n"
        )
    parts.append(f"<footer>Updated {e(_time(view['as_of']))}. Times are in UTC.</footer>\n")
    return _page(f"Tracking {view['tracking_number']}: {view['status_text']}", "".join(parts))


def render_not_found(tracking_number: str) -> str:
    return _page(
        "Parcel not found",
        "<header>\n<h1>Parcel not found</h1>\n</header>\n"
        '<section class="card" id="not-found">\n'
        f"<p>We could not find a parcel with the tracking number "
        f"<strong>{escape(tracking_number)}</strong>.</p>\n"
        "<p>Please check the number in your shipping confirmation. A new parcel can take a "
        "few hours to appear.</p>\n</section>\n",
    )


def wants_json(accept: str | None, format_: str | None) -> bool:
    """`?format=json` or an Accept header that prefers JSON to HTML."""
    if format_:
        return format_.lower() == "json"
    if not accept:
        return False
    best: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        best[media.lower()] = max(quality, best.get(media.lower(), 0.0))
    json_q = best.get("application/json", 0.0)
    html_q = max(best.get("text/html", 0.0), best.get("text/*", 0.0), best.get("*/*", 0.0) * 0.5)
    return json_q > 0 and json_q >= html_q
