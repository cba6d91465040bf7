"""Everything a run left in ClickHouse, as comparable data: the chaos check's "equal".

A table's contents are its rows (FINAL for the replacing tables) as a multiset, without the
columns that record when or where the sink wrote a row rather than what happened: insert
times, the Kafka position of a raw record, rollup generations. The KPI views are left out:
they are queries over the tables compared here, and some read the wall clock.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

# when the sink wrote, not what happened; the rollups' *_current views drop generations
PROCESSING_COLUMNS = {
    "ingested_at",
    "received_at",
    "applied_at",
    "generation",
    "partition",
    "offset",
}
Contents = dict[str, Counter]


@dataclass(frozen=True)
class TableDifference:
    table: str
    reference_rows: int
    rows: int
    missing: int  # rows of the reference not here
    extra: int  # rows here not in the reference
    examples: list[tuple]  # a few of each, for the report


def compared_tables(client: Client) -> dict[str, bool]:
    """Table name -> whether it is read with FINAL."""
    rows = client.query(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
        "AND name != 'schema_migrations' AND name NOT LIKE 'kpi\\_%' "
        "AND (name NOT LIKE 'rollup\\_%' OR name LIKE '%\\_current')"
    ).result_rows
    return {name: engine.startswith("Replacing") for name, engine in rows}


def table_contents(client: Client) -> Contents:
    contents: Contents = {}
    for table, final in sorted(compared_tables(client).items()):
        columns = client.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table = {table:String} ORDER BY position",
            parameters={"table": table},
        ).result_rows
        selected = ", ".join(
            # partial aggregates are compared by what they finalise to
            f"finalizeAggregation(`{name}`)"
            if kind.startswith("AggregateFunction")
            else f"`{name}`"
            for name, kind in columns
            if name not in PROCESSING_COLUMNS
        )
        rows = client.query(f"SELECT {selected} FROM `{table}`{' FINAL' if final else ''}")
        contents[table] = Counter(comparable(row) for row in rows.result_rows)
    return contents


def comparable(value):
    """Rows as nested tuples (arrays come back as lists, maps as dicts), and NaN (a quantile
    of nothing) equal to itself."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list | tuple):
        return tuple(comparable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, comparable(v)) for k, v in value.items()))
    return value


def differences(reference: Contents, actual: Contents, shown: int = 3) -> list[TableDifference]:
    found = []
    for table in sorted(set(reference) | set(actual)):
        expected, got = reference.get(table, Counter()), actual.get(table, Counter())
        if expected == got:
            continue
        missing, extra = expected - got, got - expected
        examples = [("missing", *row) for row in list(missing)[:shown]]
        examples += [("extra", *row) for row in list(extra)[:shown]]
        found.append(
            TableDifference(
                table, expected.total(), got.total(), missing.total(), extra.total(), examples
            )
        )
    return found
