"""The sink's Prometheus metrics and its health pages, served by aiohttp in a side thread
(the sink's own loop is a blocking Kafka consumer), and for the sink only the dashboard's
KPIs as JSON (GET /dashboard/data, read by the worker's /dashboard page)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from clickhouse_connect.driver.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

BATCHES = Counter("oms_sink_batches_total", "Batches written to ClickHouse")
ROWS = Counter("oms_sink_rows_total", "Rows written to ClickHouse, by table", ["table"])
FAILURES = Counter("oms_sink_failures_total", "Failed ClickHouse inserts (each is retried)")
CONSUMERS_REPLACED = Counter(
    "oms_sink_consumers_replaced_total",
    "Kafka consumers left behind: an offset commit never returned, or out of the group",
)
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

log = logging.getLogger(__name__)


class DashboardData:
    """The dashboard's KPIs (connectors/clickhouse/dashboard_data.py), read-only, on a
    ClickHouse connection of its own: for chDB a second handle on the engine the sink
    opened (chDB allows any number in the process that owns the path), so a read never
    waits on the sink's client nor holds it. One thread runs the queries, one set at a
    time, and a result is served again for max_age seconds: pages polling every few
    seconds cost at most one set of queries per max_age, however many are open."""

    def __init__(self, connect: Callable[[], Client], max_age: float = 2.0) -> None:
        self.connect = connect
        self.max_age = max_age
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sink-dashboard")
        self._client = None
        self._data: dict | None = None
        self._at = float("-inf")

    def _read(self) -> dict:
        """In the executor's one thread only."""
        from connectors.clickhouse.dashboard_data import dashboard_data

        if self._data is not None and time.monotonic() - self._at < self.max_age:
            return self._data
        if self._client is None:
            self._client = self.connect()
        try:
            self._data = dashboard_data(self._client)
        except Exception:
            self._client.close()
            self._client = None
            raise
        self._at = time.monotonic()
        return self._data

    def close(self) -> None:
        def close_client() -> None:
            if self._client is not None:
                self._client.close()
                self._client = None

        self._executor.submit(close_client).result()
        self._executor.shutdown()

    async def handle(self, _request: web.Request) -> web.Response:
        try:
            data = await asyncio.get_running_loop().run_in_executor(self._executor, self._read)
        except Exception as exc:
            log.warning("dashboard data: %s", exc)
            return web.json_response({"error": str(exc)}, status=503)
        return web.json_response(data, headers={"Cache-Control": "no-store"})


def serve_status(
    host: str,
    port: int,
    ready: Callable[[], bool],
    dashboard_connect: Callable[[], Client] | None = None,
) -> threading.Thread:
    """Serves /metrics and /health/*; with dashboard_connect (opens the sink's ClickHouse)
    also GET /dashboard/data."""

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
    if dashboard_connect:
        app.router.add_get("/dashboard/data", DashboardData(dashboard_connect).handle)

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, host, port).start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="sink-status", daemon=True)
    thread.start()
    return thread
