"""Opens a clickhouse-connect client from one URL.

chdb:///path is the ClickHouse engine embedded in this process (chDB); the path belongs to
one process at a time. http(s)://user:password@host:8123/database is a ClickHouse server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def open_client(url: str) -> Client:
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        path = Path(unquote(parsed.path))
        path.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=f"chdb://{path}")
    if parsed.scheme in ("http", "https"):
        return clickhouse_connect.get_client(
            interface=parsed.scheme,
            host=parsed.hostname,
            port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
            username=unquote(parsed.username or "default"),
            password=unquote(parsed.password or ""),
            database=parsed.path.strip("/") or "default",
        )
    raise ValueError(f"unsupported ClickHouse URL {url!r}: use chdb:///path or http(s)://host")


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    parsed = urlparse(url)
    if parsed.password:
        parsed = parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@"))
    return parsed.geturl()
