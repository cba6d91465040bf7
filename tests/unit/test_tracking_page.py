"""The customer's tracking page (streams/tracking/page.py): pure rendering, no Kafka."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest

from streams.tracking import page
from streams.tracking.parcel import Parcel, add_scan, add_shipment, judge
from streams.tracking.rules import Timing

SHIPPED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PROMISED = date(2026, 11, 25)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PITTSBURGH = {"city": "Pittsburgh", "region": "PA", "country": "US", "postal_code": "15222"}
# what a shipment record may carry that the customer's page must never show
PRIVATE = {
    "order_id": "O-SECRET-77",
    "shipment_id": "SH-SECRET-77",
    "location_id": "WH-SECRET",
    "origin_postal_code": "43215",
    "recipient_name": "Jane Q. Customer",
    "email": "jane@example.com",
    "line1": "742 Evergreen Terrace",
}


def h(hours: float) -> datetime:
    return SHIPPED + timedelta(hours=hours)


def shipment(**changes) -> dict:
    return {
        "event_id": "ev-shipment",
        "shipment_id": PRIVATE["shipment_id"],
        "order_id": PRIVATE["order_id"],
        "tracking_number": "T1",
        "carrier": "ups",
        "service": "ground",
        "location_id": PRIVATE["location_id"],
        "shipped_at": SHIPPED,
        "promised_delivery_date": PROMISED,
        "origin_country": "US",
        "origin_postal_code": PRIVATE["origin_postal_code"],
        "shipping_country": "US",
        "shipping_region": "PA",
        "tracking_url": "https://www.ups.com/track?tracknum=T1",
        "lines": [{"line_id": "1", "sku": "SECRET-SKU", "quantity": 3}],
        # fields a future schema might add: they must not leak either
        "recipient_name": PRIVATE["recipient_name"],
        "email": PRIVATE["email"],
        "shipping_address": {"line1": PRIVATE["line1"], "postal_code": "15222"},
        **changes,
    }


def scan(hours: float, status: str, detail: str = "", **changes) -> dict:
    return {
        "event_id": f"scan-{hours:06.1f}-{status}",
        "occurred_at": h(hours),
        "status": status,
        "status_detail": detail,
        "carrier_code": "X1",
        "description": None,
        "location": PITTSBURGH,
        "estimated_delivery_date": None,
        **changes,
    }


def parcel_of(*scans: dict, clock_hours: float | None = None, **shipment_changes) -> Parcel:
    """A parcel as the tracking agent leaves it: shipment, scans, then judged."""
    parcel = Parcel("T1", 0)
    add_shipment(parcel, shipment(**shipment_changes))
    for record in scans:
        add_scan(parcel, record)
    last = max((s["occurred_at"] for s in scans), default=SHIPPED)
    clock = h(clock_hours) if clock_hours is not None else last
    judge(parcel, clock, Timing(), clock)
    return parcel


def delivered() -> Parcel:
    return parcel_of(
        scan(1, "pre_transit"),
        scan(20, "in_transit", "departed_facility", estimated_delivery_date=date(2026, 11, 24)),
        scan(44, "out_for_delivery"),
        scan(50, "delivered", description="Delivered, left at front door"),
    )


def returned() -> Parcel:
    # T04 of tests/fixtures/tracking_parcels.jsonl: returned, then the promise passed
    return parcel_of(scan(6, "in_transit"), scan(45, "return_to_sender"), clock_hours=24 * 11)


class _Text(HTMLParser):
    """The text a browser would show, and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def visible(html: str) -> str:
    return re.sub(r"\s+", " ", " ".join(parse(html).text))


# ------------------------------------------------------------------------------ delivered
def test_a_delivered_parcel_in_plain_words():
    view = page.tracking_view(delivered(), NOW)
    assert view["status"] == "delivered" and view["status_text"] == "Delivered"
    assert view["outlook"] == "delivered_on_time"
    assert view["delivered_at"] == "2026-11-23T14:00:00Z"
    assert view["promised_delivery_date"] == "2026-11-25"
    assert view["estimated_delivery_date"] == "2026-11-24"
    assert view["exceptions"] == []
    assert view["carrier_name"] == "UPS"
    assert view["carrier_url"] == "https://www.ups.com/track?tracknum=T1"
    # newest first, with the carrier's words when it gave some, ours otherwise
    assert [e["description"] for e in view["events"]] == [
        "Delivered, left at front door",
        "Out for delivery",
        "On its way: Left a carrier facility",
        "Label created, waiting for the carrier",
    ]
    assert [e["place"] for e in view["events"]] == ["Pittsburgh, PA"] * 4

    html = page.render_html(delivered(), NOW)
    text = visible(html)
    assert "Delivered" in text and "on time" in text
    assert "Sun 22 Nov 2026, 08:00 UTC" in text  # the departed-facility scan
    assert html.count('<li class="scan"') == 4
    assert html.index("left at front door") < html.index("Label created")
    assert "Needs attention" not in text
    links = [attrs for tag, attrs in parse(html).tags if tag == "a"]
    assert links == [
        {
            "class": "carrier",
            "id": "carrier-link",
            "href": "https://www.ups.com/track?tracknum=T1",
            "rel": "noopener noreferrer nofollow",
            "target": "_blank",
        }
    ]


def test_the_stored_form_renders_like_the_parcel():
    parcel = delivered()
    stored = json.loads(json.dumps(parcel.as_dict()))  # what the table holds
    assert page.tracking_view(stored, NOW) == page.tracking_view(parcel, NOW)
    assert page.render_html(stored, NOW) == page.render_html(parcel, NOW)


def test_a_late_delivery_says_so():
    parcel = parcel_of(scan(20, "in_transit"), scan(24 * 5, "delivered"))
    view = page.tracking_view(parcel, NOW)
    assert view["outlook"] == "delivered_late"
    assert "later than promised" in view["outlook_text"]


# ------------------------------------------------------------------------ open exceptions
def test_open_exceptions_in_customer_words():
    view = page.tracking_view(returned(), NOW)
    assert view["status_text"] == "Being returned to sender"
    assert view["outlook"] == "not_delivering"
    assert [(x["kind"], x["title"]) for x in view["exceptions"]] == [
        ("returned_to_sender", "Returned to sender"),
        ("late_delivery", "Delayed"),
    ]
    html = page.render_html(returned(), NOW)
    text = visible(html)
    assert "Needs attention" in text
    assert "Returned to sender" in text and "Delayed" in text
    assert "returned_to_sender" not in text and "late_delivery" not in text  # no codes
    assert html.count('<li class="scan"') == 2


def test_a_resolved_exception_is_not_shown():
    parcel = parcel_of(
        scan(20, "failure", "recipient_unavailable"),
        scan(40, "delivered"),
    )
    assert [k for k, _, resolved in parcel.published.values() if resolved] == ["failed_attempt"]
    assert page.tracking_view(parcel, NOW)["exceptions"] == []


def test_a_failed_attempt_while_still_open():
    parcel = parcel_of(scan(20, "out_for_delivery"), scan(30, "failure", "recipient_unavailable"))
    view = page.tracking_view(parcel, datetime(2026, 11, 23, tzinfo=UTC))
    assert [x["title"] for x in view["exceptions"]] == ["Delivery attempt failed"]
    assert view["events"][0]["description"] == (
        "Delivery problem: Nobody was available to receive it"
    )


def test_an_estimate_past_the_promise_is_running_late():
    parcel = parcel_of(scan(20, "in_transit", estimated_delivery_date=date(2026, 11, 27)))
    view = page.tracking_view(parcel, datetime(2026, 11, 22, tzinfo=UTC))
    assert view["outlook"] == "late"
    assert "Fri 27 Nov 2026" in view["outlook_text"] and "Wed 25 Nov 2026" in view["outlook_text"]
    on_time = parcel_of(scan(20, "in_transit", estimated_delivery_date=date(2026, 11, 24)))
    assert page.tracking_view(on_time, datetime(2026, 11, 22, tzinfo=UTC))["outlook"] == "on_time"


# --------------------------------------------------------------------------------- unknown
def test_an_unknown_tracking_number():
    assert page.not_found_view("NOPE") == {
        "tracking_number": "NOPE",
        "error": "not_found",
        "message": "We could not find a parcel with this tracking number.",
    }
    html = page.render_not_found("<b>NOPE</b>")
    assert "Parcel not found" in visible(html)
    assert "<b>NOPE</b>" not in html and "&lt;b&gt;NOPE&lt;/b&gt;" in html


def test_a_parcel_without_scans_or_shipment():
    parcel = Parcel("T9", 0)
    add_scan(parcel, scan(3, "in_transit"))  # a scan before its shipment
    view = page.tracking_view(parcel, NOW)
    assert view["carrier"] is None and view["carrier_url"] is None
    assert view["status_text"] == "On its way" and len(view["events"]) == 1
    assert 'id="carrier-link"' not in page.render_html(parcel, NOW)
    bare = parcel_of()
    assert "has not scanned this parcel yet" in page.render_html(bare, NOW)


# -------------------------------------------------------------------------------- escaping
MALICIOUS = '<script>alert("x")</script><img src=x onerror=alert(1)>&"\''


def test_everything_from_the_data_is_escaped():
    parcel = parcel_of(
        scan(
            20,
            "in_transit",
            description=MALICIOUS,
            location={"city": "<b>City</b>", "region": '"><svg onload=x>'},
        ),
        scan(22, "exception", '<i onmouseover="x">odd</i>'),
        tracking_url='https://evil.example/"><script>x()</script>',
    )
    html = page.render_html(parcel, NOW)
    assert "<script>" not in html and "<img" not in html and "<svg" not in html
    assert "<b>City" not in html and "<i " not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    tags = {tag for tag, _ in parse(html).tags}
    assert tags <= {
        "html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "span",
        "p", "section", "ul", "ol", "li", "strong", "div", "time", "dl", "dt", "dd", "a",
        "footer",
    }  # fmt: skip
    assert all(not name.startswith("on") for _, attrs in parse(html).tags for name in attrs)
    # the browser shows the text as written
    assert MALICIOUS in visible(html)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<script>x</script>", "//no-scheme", "", None],
)
def test_only_http_links_to_the_carrier(url):
    parcel = parcel_of(scan(20, "in_transit"), tracking_url=url)
    assert page.tracking_view(parcel, NOW)["carrier_url"] is None
    assert "<a " not in page.render_html(parcel, NOW)


# ------------------------------------------------------------------------------ JSON shape
def test_json_shape():
    view = page.tracking_view(returned(), NOW)
    assert json.loads(json.dumps(view)) == view  # plain JSON
    assert set(view) == {
        "tracking_number", "carrier", "carrier_name", "service", "carrier_url", "status",
        "status_text", "shipped_at", "delivered_at", "promised_delivery_date",
        "estimated_delivery_date", "outlook", "outlook_text", "exceptions", "events", "as_of",
    }  # fmt: skip
    assert view["tracking_number"] == "T1" and view["as_of"] == "2026-12-02T12:00:00Z"
    assert view["shipped_at"] == "2026-11-21T12:00:00Z"
    assert set(view["exceptions"][0]) == {"kind", "title", "message", "since"}
    assert view["exceptions"][0]["since"] == "2026-11-23T09:00:00Z"
    assert view["events"][0] == {
        "occurred_at": "2026-11-23T09:00:00Z",
        "status": "return_to_sender",
        "status_text": "Being returned to sender",
        "description": "Being returned to sender",
        "location": {"city": "Pittsburgh", "region": "PA", "country": "US"},
        "place": "Pittsburgh, PA",
    }


def test_no_private_fields_in_the_json_or_the_page():
    for parcel in (delivered(), returned()):
        blob = json.dumps(page.tracking_view(parcel, NOW))
        html = page.render_html(parcel, NOW)
        for secret in (*PRIVATE.values(), "SECRET-SKU", "15222"):
            assert secret not in blob, secret
            assert secret not in html, secret
        for field in ("order_id", "shipment_id", "email", "lines", "postal_code", "address"):
            assert f'"{field}"' not in blob


@pytest.mark.parametrize(
    ("accept", "format_", "expected"),
    [
        (None, None, False),
        ("*/*", None, False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None, False),
        ("application/json", None, True),
        ("application/json, text/plain, */*", None, True),
        ("text/html;q=0.9, application/json;q=0.5", None, False),
        ("text/html", "json", True),
        ("application/json", "html", False),
        ("application/json;q=bad", None, False),
    ],
)
def test_json_when_asked_for(accept, format_, expected):
    assert page.wants_json(accept, format_) is expected
