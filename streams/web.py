"""Pages of the worker's web server (Faust's aiohttp): Prometheus metrics, live stock, the
customer's tracking page and the KPI dashboard (streams/dashboard.py).

Every page answers GET (and HEAD) only, and nothing is served from a directory. The
internal pages -- /stock/{sku}/ and Faust's own /table (table data) and /router (the
cluster's worker URLs) -- follow two settings: OMS_INTERNAL_ENDPOINTS=false serves none of
them; OMS_INTERNAL_PORT=n serves /stock/{sku}/ on a second site on that port instead of on
the public one (Faust's /table and /router pages are then not served at all).
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import faust
from aiohttp import web as aioweb
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.dashboard import register_dashboard
from streams.inventory.agents import InventoryService
from streams.monitoring import is_ready
from streams.tracking import page
from streams.tracking.agents import TrackingService

# what the tracking page may be kept for: a minute in any cache, never a shared one
TRACKING_HEADERS = {
    "Cache-Control": "private, max-age=60",
    "Vary": "Accept",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def register_pages(app: faust.App, inventory: InventoryService, tracking: TrackingService) -> None:
    settings = inventory.settings
    internal_public = settings.internal_endpoints and settings.internal_port is None
    # Faust's built-in internal pages; chosen when app.web is made, so before the first page
    app.conf.web_tables_enabled = internal_public
    app.conf.web_router_enabled = internal_public
    app.conf.web_stats_enabled = False
    app.conf.web_graph_enabled = False
    register_dashboard(app, settings)  # /dashboard: the KPIs, from the sink

    @app.page("/metrics")
    async def metrics(web, request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health/live")
    async def live(web, request):
        return web.json({"live": True})

    @app.page("/health/ready")
    async def ready(web, request):
        ok = is_ready(app)
        return web.json({"ready": ok}, status=200 if ok else 503)

    async def stock(web, request, sku: str):
        """One SKU at every location, answered by the worker that owns the SKU."""
        current = inventory.load(sku)
        total = current.total()
        return web.json(
            {
                "sku": sku,
                "locations": {
                    location: {
                        "on_hand": p.on_hand,
                        "reserved": p.reserved,
                        "available": p.available,
                    }
                    for location, p in sorted(current.positions.items())
                },
                "total": {
                    "on_hand": total.on_hand,
                    "reserved": total.reserved,
                    "available": total.available,
                },
                "version": current.version,
            }
        )

    if internal_public:
        app.page("/stock/{sku}/")(app.table_route(table=inventory.stock, match_info="sku")(stock))
    elif settings.internal_endpoints:
        serve_internal(app, settings.web_host, settings.internal_port, inventory, stock)

    @app.page("/track/{tracking_number}")
    @app.table_route(table=tracking.parcels, match_info="tracking_number")
    async def track(web, request, tracking_number: str):
        """The customer's tracking page (JSON when asked for), answered by the worker that
        owns the tracking number. The rendering is streams/tracking/page.py."""
        as_json = page.wants_json(request.headers.get("Accept"), request.query.get("format"))
        parcel = tracking.load(tracking_number)
        if parcel is None:
            if as_json:
                return web.json(
                    page.not_found_view(tracking_number), status=404, headers=TRACKING_HEADERS
                )
            return web.html(
                page.render_not_found(tracking_number), status=404, headers=TRACKING_HEADERS
            )
        now = datetime.now(UTC)
        if as_json:
            return web.json(page.tracking_view(parcel, now), headers=TRACKING_HEADERS)
        return web.html(page.render_html(parcel, now), headers=TRACKING_HEADERS)


def serve_internal(
    app: faust.App, host: str, port: int, inventory: InventoryService, stock
) -> aioweb.Application:
    """/stock/{sku}/ on its own aiohttp site at host:port, started and stopped with the
    worker's web server. A SKU another worker owns is fetched from that worker's internal
    site (its host, this port)."""
    view = View.from_handler(stock)(app, app.web)
    internal = aioweb.Application()
    runner: list[aioweb.AppRunner] = []

    async def stock_page(request: aioweb.Request) -> aioweb.StreamResponse:
        sku = request.match_info["sku"]
        owner = app.router.key_store(inventory.stock.name, sku)
        if (owner.host, owner.port) == (app.conf.canonical_url.host, app.conf.canonical_url.port):
            return await view.get(request, sku=sku)
        target = owner.with_port(port).with_path(request.path)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(target) as r:
            return aioweb.Response(
                body=await r.read(), status=r.status, content_type=r.content_type
            )

    internal.router.add_get("/stock/{sku}/", stock_page)

    async def start(_: aioweb.Application) -> None:
        runner.append(aioweb.AppRunner(internal, access_log=None))
        await runner[0].setup()
        await aioweb.TCPSite(runner[0], host, port).start()

    async def stop(_: aioweb.Application) -> None:
        if runner:
            await runner.pop().cleanup()

    app.web.web_app.on_startup.append(start)
    app.web.web_app.on_cleanup.append(stop)
    return internal
