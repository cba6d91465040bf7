"""The allocation planner: single location, nearest, split, backorder, non-shipping stores."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.orders.allocation import Assignment, Need, Site, great_circle_km, plan

NEWARK = (40.73, -74.17)  # the shipping address in these tests
EAST = Site("EAST", 40.79, -74.06)  # Secaucus, ~10 km
CHI = Site("CHI", 41.89, -87.62)  # Chicago, ~1,140 km
WEST = Site("WEST", 39.53, -119.75)  # Reno, ~3,800 km
SHOP = Site("SHOP", 40.74, -74.00, ships_orders=False)  # nearest of all, never ships
SITES = [WEST, CHI, EAST, SHOP]


def stock(**by_site: dict) -> dict:
    return {(sku, site): qty for site, skus in by_site.items() for sku, qty in skus.items()}


def test_great_circle_distance_is_about_right():
    assert great_circle_km(*NEWARK, EAST.latitude, EAST.longitude) == pytest.approx(10, abs=3)
    assert great_circle_km(*NEWARK, WEST.latitude, WEST.longitude) == pytest.approx(3800, rel=0.02)


def test_the_nearest_location_that_fills_everything_takes_the_whole_order():
    needs = [Need("L1", "A", 2), Need("L2", "B", 1)]
    available = stock(EAST={"A": 5, "B": 5}, CHI={"A": 5, "B": 5}, WEST={"A": 5, "B": 5})
    assert plan(needs, NEWARK, SITES, available) == [
        Assignment("L1", "A", "EAST", 2),
        Assignment("L2", "B", "EAST", 1),
    ]


def test_one_shipment_beats_a_nearer_split():
    needs = [Need("L1", "A", 2), Need("L2", "B", 1)]
    available = stock(EAST={"A": 2}, CHI={"A": 2, "B": 1})
    assert {a.location_id for a in plan(needs, NEWARK, SITES, available)} == {"CHI"}


def test_stores_that_do_not_ship_are_ignored():
    needs = [Need("L1", "A", 1)]
    available = stock(SHOP={"A": 10}, WEST={"A": 1})
    assert plan(needs, NEWARK, SITES, available) == [Assignment("L1", "A", "WEST", 1)]


def test_split_across_as_few_locations_as_possible():
    needs = [Need("L1", "A", 1), Need("L2", "B", 1), Need("L3", "C", 1)]
    available = stock(EAST={"A": 1}, CHI={"B": 1, "C": 1}, WEST={"A": 1, "B": 1})
    result = plan(needs, NEWARK, SITES, available)
    assert {a.location_id for a in result} == {"EAST", "CHI"}


def test_a_line_can_be_split_and_the_rest_backordered():
    needs = [Need("L1", "A", 5)]
    available = stock(EAST={"A": 2}, CHI={"A": 1})
    assert plan(needs, NEWARK, SITES, available) == [
        Assignment("L1", "A", "EAST", 2),
        Assignment("L1", "A", "CHI", 1),
        Assignment("L1", "A", None, 2),
    ]


def test_nothing_anywhere_is_a_backorder():
    needs = [Need("L1", "A", 1)]
    assert plan(needs, NEWARK, SITES, {}) == [Assignment("L1", "A", None, 1)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.dictionaries(
        st.tuples(st.sampled_from("ABCDE"), st.sampled_from(["EAST", "CHI", "WEST", "SHOP"])),
        st.integers(0, 8),
    ),
)
def test_every_unit_is_assigned_once_and_never_beyond_stock(quantities, available):
    needs = [Need(f"L{i}", "ABCDE"[i], q) for i, q in enumerate(quantities)]
    result = plan(needs, NEWARK, SITES, available)
    for need in needs:
        assert sum(a.quantity for a in result if a.line_id == need.line_id) == need.quantity
    used: dict = {}
    for a in result:
        assert a.quantity > 0
        if a.location_id is not None:
            assert a.location_id != "SHOP"
            used[(a.sku, a.location_id)] = used.get((a.sku, a.location_id), 0) + a.quantity
    assert all(units <= available.get(key, 0) for key, units in used.items())
    for backorder in (a for a in result if a.location_id is None):  # only what nobody has
        left = sum(
            available.get((backorder.sku, site), 0) - used.get((backorder.sku, site), 0)
            for site in ("EAST", "CHI", "WEST")
        )
        assert left == 0


def test_an_oversold_location_counts_as_empty():
    sites = [Site("A", 40.0, -74.0), Site("B", 41.0, -74.0)]
    needs = [Need("1", "SKU", 3)]
    assignments = plan(needs, (40.0, -74.0), sites, {("SKU", "A"): -2, ("SKU", "B"): 1})
    assert all(a.quantity > 0 for a in assignments)
    assert [(a.location_id, a.quantity) for a in assignments] == [("B", 1), (None, 2)]
