"""Stock rebuilt from the ClickHouse ledger, compared with the stock the pipeline reports.

The ledger (inventory_movements) is the truth: on hand and reserved per SKU and location are
the sums of its deltas. inventory_levels, and the worker's live table where one runs, must
equal them; any difference is printed and makes `oms inventory reconcile` exit non-zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.request import urlopen

from clickhouse_connect.driver.client import Client

Stock = dict[tuple[str, str], tuple[int, int]]  # (sku, location) -> (on_hand, reserved)


@dataclass(frozen=True)
class Difference:
    source: str
    sku: str
    location_id: str
    ledger: tuple[int, int] | None
    reported: tuple[int, int] | None


def ledger_stock(client: Client) -> Stock:
    rows = client.query(
        "SELECT sku, location_id, sum(on_hand_delta), sum(reserved_delta) "
        "FROM inventory_movements FINAL GROUP BY sku, location_id"
    ).result_rows
    return {(sku, loc): (int(on_hand), int(reserved)) for sku, loc, on_hand, reserved in rows}


def level_stock(client: Client) -> Stock:
    rows = client.query(
        "SELECT sku, location_id, on_hand, reserved FROM inventory_levels FINAL"
    ).result_rows
    return {(sku, loc): (int(on_hand), int(reserved)) for sku, loc, on_hand, reserved in rows}


def live_stock(
    worker_url: str, skus: set[str], fetch: Callable[[str], dict] | None = None
) -> Stock:
    """The worker's table, SKU by SKU, through its /stock/{sku}/ page (routed to the owner)."""
    fetch = fetch or _get_json
    stock: Stock = {}
    for sku in sorted(skus):
        page = fetch(f"{worker_url.rstrip('/')}/stock/{sku}/")
        for location, position in page["locations"].items():
            stock[(sku, location)] = (position["on_hand"], position["reserved"])
    return stock


def _get_json(url: str) -> dict:
    with urlopen(url, timeout=10) as response:
        return json.load(response)


def differences(source: str, ledger: Stock, reported: Stock) -> list[Difference]:
    """Every (sku, location) where the two disagree; a position of zeros equals absence."""
    keys = sorted(set(ledger) | set(reported))
    return [
        Difference(source, sku, location, ledger.get(key), reported.get(key))
        for key in keys
        for sku, location in [key]
        if ledger.get(key, (0, 0)) != reported.get(key, (0, 0))
    ]
