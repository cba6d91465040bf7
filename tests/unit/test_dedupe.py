"""streams/ingest/dedupe.py: new event, re-read after a crash, or duplicate."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.ingest.dedupe import Verdict, position, verdict


def test_position_format():
    assert position("oms.orders", 3, 1234) == "oms.orders:3:1234"


@pytest.mark.parametrize(
    ("first_seen_at", "here", "expected"),
    [
        (None, "oms.orders:0:10", Verdict.NEW),
        ("oms.orders:0:10", "oms.orders:0:10", Verdict.REREAD),
        ("oms.orders:0:9", "oms.orders:0:10", Verdict.DUPLICATE),
        ("oms.orders:1:10", "oms.orders:0:10", Verdict.DUPLICATE),
        ("oms.fulfillment:0:10", "oms.orders:0:10", Verdict.DUPLICATE),
    ],
)
def test_verdict(first_seen_at, here, expected):
    assert verdict(first_seen_at, here) is expected


topic_names = st.sampled_from(["oms.orders", "oms.inventory", "x.oms.orders"])
positions = st.builds(position, topic_names, st.integers(0, 63), st.integers(0, 2**63 - 1))


@given(here=positions, first=st.none() | positions)
@settings(database=None)
def test_verdict_property(here, first):
    result = verdict(first, here)
    if first is None:
        assert result is Verdict.NEW
    elif first == here:
        assert result is Verdict.REREAD
    else:
        assert result is Verdict.DUPLICATE


@given(
    a=st.tuples(topic_names, st.integers(0, 63), st.integers(0, 2**20)),
    b=st.tuples(topic_names, st.integers(0, 63), st.integers(0, 2**20)),
)
@settings(database=None)
def test_positions_are_equal_only_for_the_same_coordinates(a, b):
    assert (position(*a) == position(*b)) == (a == b)
