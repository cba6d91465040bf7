"""schemas/serde.py: Avro in the Confluent wire format."""

import contextlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.canonical import to_record
from schemas.catalog import UnknownEventType, default_catalog
from schemas.serde import MAGIC_BYTE, AvroSerde, DecodeError, SchemaViolation

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
RECORDS = [to_record(event) for event in SAMPLES]
CATALOG = default_catalog()
KNOWN_IDS = sorted(v.local_id for t in CATALOG.event_types for v in CATALOG.versions(t))


def record_id(pair) -> str:
    event_type, record = pair
    return f"{event_type}-{record['event_id'][:8]}"


def sample(event_type: str) -> dict:
    return dict(next(r for t, r in RECORDS if t == event_type))


@pytest.fixture(scope="module")
def serde() -> AvroSerde:
    return AvroSerde()


@pytest.fixture(scope="module")
def encoded(serde) -> bytes:
    return serde.encode("OrderPlaced", sample("OrderPlaced"))


@pytest.mark.parametrize("pair", RECORDS, ids=record_id)
def test_every_sample_round_trips(serde, pair):
    event_type, record = pair
    assert serde.decode(serde.encode(event_type, record)) == (event_type, record)


@pytest.mark.parametrize("event_type", sorted({t for t, _ in RECORDS}))
def test_wire_header_is_magic_zero_and_the_big_endian_local_id(serde, event_type):
    data = serde.encode(event_type, sample(event_type))
    assert data[0] == MAGIC_BYTE == 0
    assert struct.unpack(">I", data[1:5])[0] == CATALOG.latest(event_type).local_id


def test_local_ids_are_distinct_positive_31_bit():
    assert len(set(KNOWN_IDS)) == len(KNOWN_IDS)
    assert all(0 < i < 2**31 for i in KNOWN_IDS)


def test_encode_rejects_a_record_the_schema_does_not_accept(serde):
    record = sample("InventoryReceived")
    record["quantity"] = "ten"
    with pytest.raises(SchemaViolation, match="InventoryReceived"):
        serde.encode("InventoryReceived", record)


def test_encode_rejects_an_enum_value_outside_the_symbols(serde):
    record = sample("CarrierScan")
    record["status"] = "teleported"
    with pytest.raises(SchemaViolation):
        serde.encode("CarrierScan", record)


def test_encode_of_an_unknown_type_raises_unknown_event_type(serde):
    with pytest.raises(UnknownEventType):
        serde.encode("OrderRefunded", {})


def _replace_id(data: bytes, schema_id: int) -> bytes:
    return data[:1] + struct.pack(">I", schema_id) + data[5:]


def _unknown_id() -> int:
    return next(i for i in range(1, 2**31) if i not in KNOWN_IDS)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        pytest.param(lambda d: b"", "too short", id="empty"),
        pytest.param(lambda d: None, "too short", id="none"),
        pytest.param(lambda d: d[:3], "too short", id="three-bytes"),
        pytest.param(lambda d: d[:4], "too short", id="four-bytes"),
        pytest.param(lambda d: b"\x01" + d[1:], "magic byte 1", id="wrong-magic"),
        pytest.param(lambda d: b"\xff" + d[1:], "magic byte", id="magic-0xff"),
        pytest.param(lambda d: _replace_id(d, _unknown_id()), "unknown schema id", id="unknown-id"),
        pytest.param(lambda d: d[:5], "undecodable", id="header-only"),
        pytest.param(lambda d: d[:-3], "undecodable", id="truncated-body"),
        pytest.param(lambda d: d + b"\x00garbage", "trailing bytes", id="trailing-garbage"),
        pytest.param(lambda d: d + b"\x00", "trailing bytes", id="one-trailing-byte"),
    ],
)
def test_decode_errors(serde, encoded, mangle, message):
    with pytest.raises(DecodeError, match=message):
        serde.decode(mangle(encoded))


def test_decoding_with_another_types_id_is_a_decode_error(serde):
    data = serde.encode("OrderCancelled", sample("OrderCancelled"))
    with pytest.raises(DecodeError):
        serde.decode(_replace_id(data, CATALOG.latest("OrderPlaced").local_id))


def test_decode_error_is_a_value_error():
    assert issubclass(DecodeError, ValueError)
    assert issubclass(SchemaViolation, ValueError)


@given(st.binary(max_size=200))
@settings(database=None, max_examples=300)
def test_arbitrary_bytes_raise_only_decode_error(data):
    with contextlib.suppress(DecodeError):
        AvroSerde().decode(data)


@given(st.sampled_from(KNOWN_IDS), st.binary(max_size=200))
@settings(database=None, max_examples=500)
def test_arbitrary_bodies_under_a_known_id_raise_only_decode_error(schema_id, body):
    try:
        event_type, record = AvroSerde().decode(struct.pack(">bI", 0, schema_id) + body)
    except DecodeError:
        return
    assert isinstance(record, dict)
    assert event_type in CATALOG.event_types


def test_money_beyond_the_schema_precision_is_a_schema_violation(serde):
    event = json.loads(json.dumps(next(e for e in SAMPLES if e["type"] == "OrderPlaced")))
    event["lines"][0]["unit_price"] = "12345678901.00"  # 13 digits > precision 12
    with pytest.raises(SchemaViolation):
        serde.encode(*to_record(event))
