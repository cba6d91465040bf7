"""No personal data in ClickHouse: `oms run --events` on the fixtures and the sample day,
then every String-like column of every table is searched for every email, customer name
and street line of the input file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import FIXTURES, SAMPLES, oms_run, query

pytestmark = pytest.mark.integration

FILES = [
    FIXTURES / "orders_multi_warehouse.jsonl",
    SAMPLES / "day.jsonl",
    FIXTURES / "tracking_parcels.jsonl",
]
PERSONAL_FIELDS = {"email", "recipient_email", "phone", "name", "recipient_name", "line1", "line2"}
PERSONAL_OBJECTS = {"customer", "shipping_address", "billing_address", "address", "recipient"}


def personal_values(path: Path) -> set[str]:
    """Emails anywhere, and the names, phones and street lines of customers and addresses."""
    found: set[str] = set()

    def walk(value, personal: bool) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, personal)
        elif isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, str) and item.strip():
                    if "email" in name or (personal and name in PERSONAL_FIELDS):
                        found.add(item.strip())
                else:
                    walk(item, personal or name in PERSONAL_OBJECTS)

    for line in path.read_text().splitlines():
        if line.strip():
            walk(json.loads(line), False)
    return found


def string_columns(settings) -> dict[str, list[str]]:
    rows = query(
        settings,
        "SELECT c.table, c.name FROM system.columns AS c "
        "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = currentDatabase() AND t.engine NOT IN ('View', 'MaterializedView') "
        "AND (c.type LIKE '%String%' OR c.type LIKE '%Map%' OR c.type LIKE '%Tuple%' "
        "OR c.type LIKE '%JSON%' OR c.type LIKE '%Object%' OR c.type LIKE '%Enum%')",
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hits(settings, table: str, column: str, values: list[str]) -> list[str]:
    """The values found in table.column (as text, case-insensitive)."""
    found = []
    for start in range(0, len(values), 200):  # multiSearch takes at most 255 needles
        needles = values[start : start + 200]
        literal = "[" + ", ".join(quoted(v) for v in needles) + "]"
        text = f"toString(`{column}`)"
        sql = (
            f"SELECT count() FROM `{table}` WHERE multiSearchAnyCaseInsensitive({text}, {literal})"
        )
        if query(settings, sql)[0][0]:
            found += [
                v
                for v in needles
                if query(
                    settings,
                    f"SELECT count() FROM `{table}` "
                    f"WHERE positionCaseInsensitive({text}, {quoted(v)}) > 0",
                )[0][0]
            ]
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_clickhouse_keeps_no_personal_data(settings, path):
    values = sorted(personal_values(path))
    oms_run(settings, path)
    tables = string_columns(settings)
    assert "raw_events" in tables and "orders" in tables
    assert query(settings, "SELECT count() FROM raw_events")[0][0] > 0
    leaks = {
        f"{table}.{column}": found
        for table, columns in tables.items()
        for column in columns
        if (found := hits(settings, table, column, values))
    }
    assert leaks == {}


def test_the_inputs_hold_personal_data_to_look_for():
    assert personal_values(SAMPLES / "day.jsonl")
    assert personal_values(FIXTURES / "orders_multi_warehouse.jsonl")
