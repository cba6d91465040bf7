"""The worker's web pages (streams/web.py): read-only, no directories, internal pages
switched by OMS_INTERNAL_ENDPOINTS and OMS_INTERNAL_PORT. The app is built without a broker
and its routes are read from the aiohttp router."""

import pytest
from aiohttp.web_urldispatcher import StaticResource

from oms.settings import Settings
from streams.app import create_app

PUBLIC = {
    "/",
    "/metrics",
    "/health/live",
    "/health/ready",
    "/track/{tracking_number}",
    "/dashboard",
    "/dashboard/dashboard.js",
    "/dashboard/plotly.min.js",
    "/dashboard/data",
}
INTERNAL_PREFIXES = ("/stock", "/table", "/router", "/graph", "/stats", "/assignment")


def routes(tmp_path, **settings) -> tuple[object, set[tuple[str, str]]]:
    app = create_app(
        Settings(kafka_bootstrap_servers="127.0.0.1:9", state_dir=tmp_path, **settings)
    )
    app.web.init_server()  # what the worker does when its web server starts
    router = app.web.web_app.router
    return router, {(r.method, r.resource.canonical) for r in router.routes()}


@pytest.mark.parametrize(
    "settings", [{}, {"internal_endpoints": False}, {"internal_port": 6099}], ids=str
)
def test_every_page_is_get_only_and_no_directory_is_served(tmp_path, settings):
    router, served = routes(tmp_path, **settings)
    assert {method for method, _ in served} == {"GET", "HEAD"}
    assert not [r for r in router.resources() if isinstance(r, StaticResource)]
    assert {path for _, path in served} >= PUBLIC


def test_internal_pages_are_served_by_default(tmp_path):
    _, served = routes(tmp_path)
    paths = {path for _, path in served}
    assert "/stock/{sku}/" in paths
    assert "/table/{name}/{key}/" in paths


def test_internal_endpoints_false_serves_public_pages_only(tmp_path, monkeypatch):
    monkeypatch.setenv("OMS_INTERNAL_ENDPOINTS", "false")
    app = create_app(Settings(kafka_bootstrap_servers="127.0.0.1:9", state_dir=tmp_path))
    app.web.init_server()
    paths = {r.resource.canonical for r in app.web.web_app.router.routes()}
    assert paths == PUBLIC


def test_an_internal_port_takes_the_internal_pages_off_the_public_site(tmp_path):
    router, served = routes(tmp_path, internal_port=6099)
    assert {path for _, path in served} == PUBLIC
    assert len(router.resources()) == len(PUBLIC)
