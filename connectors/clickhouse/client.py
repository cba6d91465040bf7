"""Opens a clickhouse-connect client from one URL.

chdb:///path is the ClickHouse engine embedded in this process (chDB); the path belongs to
one process at a time. http(s)://user:password@host:8123/database is a ClickHouse server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def open_client(url: str, password: str | None = None, ca_file: Path | None = None) -> Client:
    """password (a secret from the settings) wins over one in the URL; ca_file verifies an
    https server signed by a private CA."""
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
            password=password if password is not None else unquote(parsed.password or ""),
            database=parsed.path.strip("/") or "default",
            **({"ca_cert": str(ca_file)} if ca_file else {}),
        )
    raise ValueError(
        f"unsupported ClickHouse URL {describe(url)!r}: use chdb:///path or http(s)://host"
    )


def describe(url: str) -> str:
    """The URL for logs: no password (***), and no query string or fragment, which may carry
    credentials too (?password=...). The user name stays: it says which account is used."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        port = parsed.port
    except ValueError:  # not a URL we could take apart: show only its scheme
        return f"{url.split(':', 1)[0]}:<unparsable>" if ":" in url else "<unparsable>"
    if "@" not in parsed.netloc:
        return url.split("#", 1)[0].split("?", 1)[0]
    user = parsed.username or ""
    secret = ":***" if parsed.password is not None else ""
    netloc = f"{user}{secret}@{_host(host)}{f':{port}' if port else ''}"
    return parsed._replace(netloc=netloc, query="", fragment="").geturl()


def _host(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname


def open_settings_client(settings) -> Client:
    """The pipeline's ClickHouse, as the settings describe it (URL, password secret, CA)."""
    password = settings.clickhouse_password
    return open_client(
        settings.resolved_clickhouse_url,
        password.get_secret_value() if password else None,
        settings.clickhouse_ca_file,
    )
