"""Pages of the worker's web server (Faust's aiohttp): Prometheus metrics, live stock, the
customer's tracking page and the KPI dashboard (streams/dashboard.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import faust
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
    register_dashboard(app, inventory.settings)  # /dashboard: the KPIs, from the sink

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

    @app.page("/stock/{sku}/")
    @app.table_route(table=inventory.stock, match_info="sku")
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
