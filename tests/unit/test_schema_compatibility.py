"""Every published schema version can be read by the next one (BACKWARD compatibility)."""

import copy
import itertools

import pytest

from schemas.catalog import default_catalog
from schemas.compatibility import reader_problems

CATALOG = default_catalog()
LATEST = [pytest.param(CATALOG.latest(t), id=t) for t in CATALOG.event_types]


def test_each_published_version_reads_the_previous_one():
    for event_type in CATALOG.event_types:
        versions = CATALOG.versions(event_type)
        for old, new in itertools.pairwise(versions):
            problems = reader_problems(old.definition, new.definition)
            assert problems == [], f"{event_type} v{old.version} -> v{new.version}"


@pytest.mark.parametrize("latest", LATEST)
def test_a_schema_reads_itself(latest):
    assert reader_problems(latest.definition, latest.definition) == []


def _changed(definition: dict, change) -> dict:
    new = copy.deepcopy(definition)
    change(new)
    return new


def test_a_new_field_without_default_is_caught():
    old = CATALOG.latest("OrderCancelled").definition
    new = _changed(old, lambda d: d["fields"].append({"name": "note", "type": "string"}))
    assert reader_problems(old, new) == ["note: new field without a default"]


def test_a_new_field_with_default_is_fine():
    old = CATALOG.latest("OrderCancelled").definition
    new = _changed(
        old,
        lambda d: d["fields"].append({"name": "note", "type": ["null", "string"], "default": None}),
    )
    assert reader_problems(old, new) == []


def test_a_narrowed_type_is_caught():
    old = CATALOG.latest("InventoryReceived").definition

    def narrow(d):
        next(f for f in d["fields"] if f["name"] == "quantity")["type"] = "string"

    assert reader_problems(old, _changed(old, narrow)) == ["quantity: int cannot be read as string"]


def test_a_removed_enum_symbol_is_caught():
    old = CATALOG.latest("CarrierScan").definition

    def drop_symbol(d):
        status = next(f for f in d["fields"] if f["name"] == "status")
        status["type"]["symbols"].remove("cancelled")

    assert "status: enum symbols removed" in reader_problems(old, _changed(old, drop_symbol))[0]
