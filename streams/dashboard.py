"""The KPI dashboard of the worker's web server: GET /dashboard, a page of plotly charts that
refreshes itself every few seconds from GET /dashboard/data, which passes on the sink's own
/dashboard/data (the KPI queries are connectors/clickhouse/dashboard_data.py; only the sink
may open an embedded chDB, so the worker never queries ClickHouse itself).

plotly.js is served from the installed plotly package (/dashboard/plotly.min.js): nothing is
copied into the repository and nothing is loaded from the internet. The page is static; the
data reaches the DOM only as text (textContent) and, in chart labels, HTML-escaped.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources

import aiohttp
import faust

from oms.settings import Settings

REFRESH_SECONDS = 3
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # plotly adds <style> elements; every script is one of ours
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
}
# the chart ids of the page, with their titles (the browser test reads the ids)
CHARTS = {
    "funnel": "Orders by status now",
    "throughput": "Orders per hour (event time)",
    "order-to-ship": "Order to ship and release to ship, hours",
    "on-time-shipment": "On-time shipment by channel, %",
    "carrier-on-time": "Carrier on-time delivery, %",
    "exceptions": "Delivery exceptions by kind and carrier",
    "stockouts": "Stockout rate by location, %",
    "stock": "Stock position of the top SKUs, units",
    "cover": "Days of cover of the top SKUs",
}
TILES = {
    "orders": "orders",
    "o2s": "order to ship, median",
    "on-time": "shipped on time",
    "carrier-on-time": "delivered on time",
    "open-exceptions": "open exceptions",
    "backorder-rate": "lines backordered",
    "stockout-rate": "SKU x location stocked out",
}


def data_url(settings: Settings) -> str:
    """Where the sink answers the KPIs."""
    return (
        settings.dashboard_data_url
        or f"http://127.0.0.1:{settings.sink_metrics_port}/dashboard/data"
    )


@cache
def plotly_js() -> tuple[bytes, str]:
    """plotly.min.js of the installed plotly package, and the package's version."""
    import plotly

    script = resources.files("plotly") / "package_data" / "plotly.min.js"
    return script.read_bytes(), plotly.__version__


def render_page() -> str:
    """The page: static, data-free (dashboard.js fills it in)."""
    _, version = plotly_js()
    tiles = "\n".join(
        f'  <div class="tile"><span class="value" id="tile-{key}">&mdash;</span>'
        f'<span class="label">{escape(label)}</span></div>'
        for key, label in TILES.items()
    )
    charts = "\n".join(
        f'  <section><h2>{escape(title)}</h2><div class="chart" id="{key}"></div></section>'
        for key, title in CHARTS.items()
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oms-stream: fulfillment KPIs</title>
<link rel="icon" href="data:,">
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }}
  header {{ padding: 12px 20px; background: #1d2330; color: white; }}
  header h1 {{ font-size: 20px; margin: 0; }}
  #updated {{ font-size: 13px; opacity: 0.8; }}
  #updated.error {{ color: #ffb4a8; opacity: 1; }}
  .tiles {{ display: flex; flex-wrap: wrap; gap: 10px; padding: 14px 20px 0; }}
  .tile {{ background: white; border-radius: 6px; padding: 10px 14px; min-width: 130px; }}
  .tile .value {{ display: block; font-size: 22px; font-weight: 600; }}
  .tile .label {{ font-size: 12px; color: #5b6475; }}
  main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr));
         gap: 14px; padding: 14px 20px 20px; }}
  section {{ background: white; border-radius: 6px; padding: 8px 10px; }}
  section h2 {{ font-size: 14px; margin: 4px 6px; font-weight: 600; }}
  .chart {{ height: 280px; }}
</style>
<script src="/dashboard/plotly.min.js?v={escape(version)}"></script>
<script src="/dashboard/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>oms-stream: fulfillment KPIs</h1>
  <div id="updated">waiting for the first data…</div>
</header>
<div class="tiles">
{tiles}
</div>
<main>
{charts}
</main>
</body>
</html>
"""


# Reads /dashboard/data every REFRESH_SECONDS and redraws every chart with Plotly.react.
# Labels that come from the data go through esc() (plotly reads tags in labels); tiles and
# the status line are set with textContent.
SCRIPT = """\
"use strict";
const REFRESH_MS = __REFRESH_MS__;
const NONE = "\\u2014";  // an em dash: nothing to show
const CONFIG = {displayModeBar: false, responsive: true};
const LAYOUT = {
  margin: {t: 10, r: 10, b: 50, l: 50}, autosize: true, font: {size: 12},
  legend: {orientation: "h", y: -0.22}, barmode: "group",
};

function esc(text) {
  const entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
  return String(text).replace(/[&<>"']/g, (c) => entities[c]);
}
const labels = (values) => values.map(esc);
const percent = (rates) => rates.map((r) => (r === null ? null : 100 * r));
const hours = (seconds) => seconds.map((s) => (s === null ? null : s / 3600));
const points = (trace) => (trace.y || []).filter((v) => v !== null).length;

function showRate(rate) {
  return rate === null || rate === undefined ? NONE : (100 * rate).toFixed(1) + " %";
}

function draw(id, traces, layout) {
  const element = document.getElementById(id);
  const empty = traces.every((trace) => points(trace) === 0);
  const note = {text: "no data yet", showarrow: false, xref: "paper", yref: "paper",
                x: 0.5, y: 0.5, font: {size: 14, color: "#8a93a6"}};
  Plotly.react(element, traces, Object.assign({}, LAYOUT, layout || {},
                                              {annotations: empty ? [note] : []}), CONFIG);
  element.dataset.points = traces.reduce((n, trace) => n + points(trace), 0);
}

function tile(key, text) {
  document.getElementById("tile-" + key).textContent = text;
}

function render(d) {
  const f = d.funnel;
  draw("funnel", [{type: "bar", x: labels(f.statuses), y: f.orders, name: "orders",
                   marker: {color: "#3b6fd8"}}], {showlegend: false});

  const t = d.throughput;
  const hourly = (y, name) => ({type: "scatter", mode: "lines+markers", x: t.hours, y, name});
  draw("throughput", [hourly(t.placed, "placed"), hourly(t.shipped, "shipped"),
                      hourly(t.delivered, "delivered"), hourly(t.cancelled, "cancelled")]);

  const o = d.order_to_ship;
  const channels = labels(o.channels);
  draw("order-to-ship", [
    {type: "bar", x: channels, y: hours(o.order_to_ship_p50_s), name: "order to ship, median"},
    {type: "bar", x: channels, y: hours(o.order_to_ship_p90_s), name: "order to ship, p90"},
    {type: "bar", x: channels, y: hours(o.release_to_ship_p50_s),
     name: "release to ship, median"},
    {type: "bar", x: channels, y: hours(o.release_to_ship_p90_s), name: "release to ship, p90"},
  ]);

  const s = d.on_time_shipment;
  draw("on-time-shipment", [
    {type: "bar", x: labels(s.channels), y: percent(s.on_time_rate), name: "on time",
     text: s.shipped.map((n) => n + " shipped"), marker: {color: "#2e9d6a"}},
  ], {showlegend: false, yaxis: {range: [0, 100]}});

  const c = d.carrier_on_time;
  draw("carrier-on-time", [
    {type: "bar", x: labels(c.carriers), y: percent(c.on_time_rate), name: "on time",
     text: c.delivered.map((n) => n + " delivered"), marker: {color: "#8b5cc7"}},
  ], {showlegend: false, yaxis: {range: [0, 100]}});

  const e = d.exceptions;
  draw("exceptions", e.carriers.map((carrier) => (
    {type: "bar", x: labels(e.kinds), y: e.counts[carrier], name: esc(carrier)}
  )), {barmode: "stack"});

  const so = d.stockouts;
  draw("stockouts", [{type: "bar", x: labels(so.locations), y: percent(so.rates),
                      name: "stocked out", marker: {color: "#d2553f"}}],
       {showlegend: false});

  const k = d.stock;
  const skus = labels(k.skus);
  draw("stock", [
    {type: "bar", x: skus, y: k.reserved, name: "reserved", marker: {color: "#e0a133"}},
    {type: "bar", x: skus, y: k.available, name: "available", marker: {color: "#2e9d6a"}},
    {type: "scatter", mode: "markers", x: skus, y: k.on_hand, name: "on hand",
     marker: {color: "#1d2330", symbol: "line-ew-open", size: 18}},
  ], {barmode: "relative"});
  draw("cover", [{type: "bar", x: skus, y: k.days_of_cover, name: "days of cover",
                  marker: {color: "#3b6fd8"}}], {showlegend: false});

  tile("orders", String(f.total));
  const all = o.channels.indexOf("all");
  tile("o2s", all < 0 ? NONE : (o.order_to_ship_p50_s[all] / 3600).toFixed(1) + " h");
  const allShipped = s.channels.indexOf("all");
  tile("on-time", allShipped < 0 ? NONE : showRate(s.on_time_rate[allShipped]));
  const promised = c.services.reduce((n, x) => n + x.delivered_promised, 0);
  const onTime = c.services.reduce((n, x) => n + x.delivered_on_time, 0);
  tile("carrier-on-time", promised ? showRate(onTime / promised) : NONE);
  tile("open-exceptions", String(e.open));
  tile("backorder-rate", showRate(d.backorders.rate));
  tile("stockout-rate", showRate(d.stockouts.rate));
}

async function refresh() {
  const status = document.getElementById("updated");
  try {
    const response = await fetch("/dashboard/data", {cache: "no-store"});
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    render(data);
    status.className = "";
    status.textContent = "event time " + (data.as_of || "(no events yet)") +
      " · updated " + new Date().toLocaleTimeString() +
      " · every " + REFRESH_MS / 1000 + " s";
    document.body.dataset.refreshed = data.generated_at;
  } catch (error) {
    status.className = "error";
    status.textContent = "no data: " + error.message + " (retrying)";
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
""".replace("__REFRESH_MS__", str(REFRESH_SECONDS * 1000))


def register_dashboard(app: faust.App, settings: Settings) -> None:
    url = data_url(settings)

    @app.page("/dashboard")
    async def dashboard(web, request):
        return web.html(render_page(), headers=PAGE_HEADERS)

    @app.page("/dashboard/dashboard.js")
    async def dashboard_js(web, request):
        return web.bytes(
            SCRIPT.encode(),
            content_type="text/javascript",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @app.page("/dashboard/plotly.min.js")
    async def plotly_min_js(web, request):
        script, _ = plotly_js()
        return web.bytes(
            script,
            content_type="text/javascript",
            # the page asks for ?v=<plotly version>: a new version is a new URL
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    @app.page("/dashboard/data")
    async def dashboard_data(web, request):
        """The sink's answer as it is (its status too), or 502 when the sink does not answer."""
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url) as response,
            ):
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json(
                {"error": f"the sink's KPIs at {url} did not answer: {exc or type(exc).__name__}"},
                status=502,
                headers={"Cache-Control": "no-store"},
            )
        return web.bytes(
            body,
            content_type="application/json",
            status=status,
            headers={"Cache-Control": "no-store"},
        )
