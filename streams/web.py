"""Pages of the worker's web server (Faust's aiohttp): Prometheus metrics and live stock."""

from __future__ import annotations

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.inventory.agents import InventoryService
from streams.monitoring import is_ready


def register_pages(app: faust.App, inventory: InventoryService) -> None:
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
