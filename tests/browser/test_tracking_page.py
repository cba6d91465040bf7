"""The customer's tracking page in a real browser: Debian's chromium, driven by Playwright,
reads /track/{tracking_number} from a worker that replayed tests/fixtures/tracking_parcels.jsonl
on the session's real broker.

`make test` installs chromium when it is missing (`make chromium`) and the dev extras bring
playwright; without either the module is skipped with the reason, never failed. Playwright's
own browser downloads are not used. Each page's full-page screenshot is saved under the
test's tmp_path and its path printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oms.pipeline import LocalPipeline
from tests.integration.helpers import FIXTURES, replay_file

pytestmark = [pytest.mark.browser, pytest.mark.integration]


SCENARIO = FIXTURES / "tracking_parcels.jsonl"


def private_strings() -> set[str]:
    """Every customer's email, name and street in the scenario: never on a tracking page."""
    found = set()
    for line in SCENARIO.read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "OrderPlaced":
            address = event["shipping_address"]
            found.update((event["customer"]["email"], address["name"], address["line1"]))
    return found


def test_what_a_customer_sees(settings, browser, tmp_path, capsys):
    with LocalPipeline(settings) as pipeline:
        replay_file(settings, SCENARIO, pipeline.wait_processed)
        base = f"http://127.0.0.1:{settings.web_port}/track"
        context = browser.new_context(viewport={"width": 800, "height": 900}, locale="en-US")
        page = context.new_page()
        private = private_strings()
        assert {"c1@example.com", "Customer 4", "4 Elm St"} <= private
        shots = []

        # T01: delivered on time, four scans
        response = page.goto(f"{base}/T01")
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/html")
        assert page.title() == "Tracking T01: Delivered"
        assert page.locator("#status").inner_text() == "Delivered"
        assert "on time" in page.locator("#outlook").inner_text()
        scans = page.locator("#timeline li.scan")
        assert scans.count() == 4
        assert scans.first.get_attribute("data-status") == "delivered"  # newest first
        assert "Mon 23 Nov 2026, 14:00 UTC" in scans.first.inner_text()
        assert "Pittsburgh, PA" in scans.first.inner_text()
        assert page.locator("#exceptions").count() == 0
        assert page.locator("#promised").inner_text() == "Wed 25 Nov 2026"
        link = page.locator("#carrier-link")
        assert link.get_attribute("href") == "https://www.ups.com/track?tracknum=T01"
        assert link.inner_text() == "Track this parcel on UPS's website"
        shots.append(screenshot(page, tmp_path / "track-T01.png"))
        no_private_data(page, private)

        # T04: returned to sender, with its open exceptions in customer words
        response = page.goto(f"{base}/T04")
        assert response.status == 200
        assert page.locator("#status").inner_text() == "Being returned to sender"
        assert page.locator("#timeline li.scan").count() == 2
        exceptions = page.locator("#exceptions li.exception")
        assert exceptions.count() == 2
        titles = [exceptions.nth(i).locator("strong").inner_text() for i in range(2)]
        assert titles == ["Returned to sender", "Delayed"]
        assert page.get_by_text("Needs attention").is_visible()
        assert (
            page.locator("#carrier-link").get_attribute("href")
            == "https://www.ups.com/track?tracknum=T04"
        )
        shots.append(screenshot(page, tmp_path / "track-T04.png"))
        no_private_data(page, private)

        # the same data as JSON, by Accept header or ?format=json
        by_header = context.request.get(f"{base}/T04", headers={"Accept": "application/json"})
        assert by_header.status == 200
        data = by_header.json()
        assert data["status"] == "return_to_sender" and len(data["events"]) == 2
        assert [x["kind"] for x in data["exceptions"]] == ["returned_to_sender", "late_delivery"]
        by_query = context.request.get(f"{base}/T01?format=json").json()
        assert by_query["delivered_at"] == "2026-11-23T14:00:00Z"
        blob = json.dumps([data, by_query])
        assert [secret for secret in private if secret in blob] == []

        # an unknown tracking number
        response = page.goto(f"{base}/NOPE-123")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Parcel not found"
        missing = context.request.get(f"{base}/NOPE-123", headers={"Accept": "application/json"})
        assert missing.status == 404 and missing.json()["error"] == "not_found"
        context.close()

    with capsys.disabled():
        for shot in shots:
            print(f"\ntracking page screenshot: {shot}")


def screenshot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def no_private_data(page, private: set[str]) -> None:
    shown, html = page.locator("body").inner_text(), page.content()
    for secret in private:
        assert secret not in shown and secret not in html, secret
