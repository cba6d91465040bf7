"""Comparing two runs' ClickHouse contents: rows as multisets, NaN equal to itself."""

from __future__ import annotations

from collections import Counter

from connectors.clickhouse.contents import comparable, differences


def contents(**tables: list[tuple]) -> dict[str, Counter]:
    return {name: Counter(comparable(row) for row in rows) for name, rows in tables.items()}


def test_equal_runs_have_no_differences_even_with_nan_and_arrays():
    rows = [("o-1", [1.0, float("nan")], {"b": 2, "a": 1}), ("o-2", [], {})]
    assert differences(contents(orders=rows), contents(orders=list(reversed(rows)))) == []


def test_a_doubled_row_a_missing_row_and_a_missing_table_are_each_reported():
    reference = contents(orders=[("o-1",), ("o-2",)], shipments=[("s-1",)])
    actual = contents(orders=[("o-1",), ("o-1",)])

    found = {d.table: d for d in differences(reference, actual)}

    assert (found["orders"].missing, found["orders"].extra) == (1, 1)
    assert found["orders"].examples == [("missing", "o-2"), ("extra", "o-1")]
    assert (found["shipments"].reference_rows, found["shipments"].rows) == (1, 0)
