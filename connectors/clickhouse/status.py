"""The sink's Prometheus metrics and its health pages, served by aiohttp in a side thread
(the sink's own loop is a blocking Kafka consumer)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

BATCHES = Counter("oms_sink_batches_total", "Batches written to ClickHouse")
ROWS = Counter("oms_sink_rows_total", "Rows written to ClickHouse, by table", ["table"])
FAILURES = Counter("oms_sink_failures_total", "Failed ClickHouse inserts (each is retried)")
BATCH_SECONDS = Histogram(
    "oms_sink_batch_seconds",
    "Insert time of a batch, all tables",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAST_SUCCESS = Gauge(
    "oms_sink_last_success_timestamp_seconds", "Unix time of the last batch written"
)
LAG = Gauge("oms_sink_lag", "Records not yet written, per topic", ["topic"])
PAUSED = Gauge("oms_sink_paused", "1 while retrying a failing ClickHouse with pulls paused")


def serve_status(host: str, port: int, ready: Callable[[], bool]) -> threading.Thread:
    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def live(_request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def readiness(_request: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", readiness)

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, host, port).start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="sink-status", daemon=True)
    thread.start()
    return thread
