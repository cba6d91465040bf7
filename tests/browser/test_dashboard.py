"""The KPI dashboard in a real browser: Debian's chromium, driven by Playwright, loads
/dashboard from the worker of a running `oms demo` (on the session's broker, with the test's
own topics, state directory and ports), waits until plotly has drawn the charts with data,
saves a full-page screenshot under the test's tmp_path (its path is printed), then stops the
demo with Ctrl-C (SIGINT), which must exit 0.

Skipped, never failed, without playwright or chromium (see test_tracking_page.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from oms.processes import settings_env
from streams.dashboard import CHARTS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


# event time 300x faster than the wall clock: shipments from about 25 s after the start;
# deliveries (a day later) and so carrier on-time delivery come only after minutes
DEMO = ["demo", "--duration", "240", "--speed", "300", "--orders-per-minute", "2"]
# what a few hours of event time fill; carrier-on-time and exceptions may still be empty
FILLED = [
    "funnel",
    "throughput",
    "order-to-ship",
    "on-time-shipment",
    "stockouts",
    "stock",
    "cover",
]
POINTS = """(ids) => ids.map((id) => {
    const traces = document.getElementById(id).data || [];
    return traces.reduce((n, t) => n + (t.y || []).filter((v) => v !== null).length, 0);
})"""


@pytest.fixture
def demo(settings, tmp_path):
    """A running `oms demo`; stopped with SIGINT at the end, which must exit 0."""
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "oms.cli", *DEMO],
        env=settings_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert process.returncode == 0, output
    assert "SIGINT: stopping" in output and "orders by status (seed 1)" in output


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "oms demo exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.5)


def test_the_dashboard_of_a_running_demo(browser, settings, demo, tmp_path, capsys):
    base = f"http://127.0.0.1:{settings.web_port}"
    wait_until_serving(f"{base}/dashboard", demo)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    requested, problems = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = page.goto(f"{base}/dashboard")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.title() == "oms-stream: fulfillment KPIs"
    assert [page.locator(".chart").nth(i).get_attribute("id") for i in range(len(CHARTS))] == list(
        CHARTS
    )

    # plotly's own traces, with data points, in every chart a few hours of event time fill
    began = time.monotonic()
    page.wait_for_function(
        f"() => ({POINTS})({FILLED!r}).every((n) => n > 0)", timeout=150_000, polling=1000
    )
    waited = time.monotonic() - began
    points = dict(zip(CHARTS, page.evaluate(POINTS, list(CHARTS)), strict=True))
    assert all(points[chart] > 0 for chart in FILLED), points
    assert page.evaluate("() => typeof Plotly.react") == "function"
    assert page.locator("#funnel .main-svg").count() > 0  # drawn, not just given data
    assert int(page.locator("#tile-orders").inner_text()) > 0
    assert page.locator("#updated").inner_text().startswith("event time 2026-11-0")
    statuses = page.evaluate("() => document.getElementById('funnel').data[0].x")
    assert "on_hold" in statuses or "allocated" in statuses
    # labels from the data are HTML-escaped before plotly reads them
    assert (
        page.evaluate("() => esc('<b>x</b> & \"y\"')") == "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;"
    )

    # it refreshes by itself while the demo runs
    first = page.locator("body").get_attribute("data-refreshed")
    page.wait_for_function(
        f"() => document.body.dataset.refreshed !== {json.dumps(first)}",
        timeout=30_000,
        polling=500,
    )
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0

    # everything came from the worker: plotly.js from the installed package, no CDN
    assert requested and all(url.startswith(base) for url in requested), requested
    assert any("/dashboard/plotly.min.js" in url for url in requested)
    assert problems == []
    context.close()

    with capsys.disabled():
        print(f"\ndashboard screenshot: {shot}")
        print(f"charts filled {waited:.0f} s after the page loaded; data points: {points}")
