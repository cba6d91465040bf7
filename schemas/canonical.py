"""Converters between the canonical JSON of events.md and Avro records, driven by the schemas.

Canonical JSON carries `type` in the envelope, timestamps as RFC 3339 UTC strings with
millisecond precision, dates as YYYY-MM-DD and money as decimal strings; the Avro record
carries the type as its schema and the values as logical types.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

from schemas.catalog import Catalog, default_catalog
from schemas.serde import SchemaViolation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds, as timestamp-millis and as the tables' stored forms hold them."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def format_timestamp(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return value.astimezone(UTC)


def _to_avro(schema, value, path: str):
    if isinstance(schema, list):  # union: null or one named branch in our schemas
        if value is None and "null" in schema:
            return None
        branches = [b for b in schema if b != "null"]
        return _to_avro(branches[0], value, path)
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        kind = schema["type"]
        try:
            if logical == "timestamp-millis":
                return parse_timestamp(value)
            if logical == "date":
                return date.fromisoformat(value)
            if logical == "decimal":
                return _parse_money(value, schema["scale"])
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise SchemaViolation(f"{path}: {exc}") from None
        if kind == "record":
            return _record_to_avro(schema, value, f"{path}.")
        if kind == "array":
            if not isinstance(value, list):
                raise SchemaViolation(f"{path}: expected a list")
            return [_to_avro(schema["items"], item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _parse_money(value, scale: int) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"money must be a decimal string, got {value!r}")
    amount = Decimal(value)
    if amount.as_tuple().exponent < -scale:
        raise ValueError(f"more than {scale} decimal places: {value!r}")
    return amount.quantize(Decimal(1).scaleb(-scale))


def _record_to_avro(schema: dict, value, path: str) -> dict:
    if not isinstance(value, dict):
        raise SchemaViolation(f"{path or schema['name']}: expected an object")
    fields = {f["name"]: f for f in schema["fields"]}
    unknown = set(value) - set(fields)
    if unknown:
        raise SchemaViolation(f"{path or schema['name']}: unknown fields {sorted(unknown)}")
    record = {}
    for name, field in fields.items():
        if name in value:
            record[name] = _to_avro(field["type"], value[name], f"{path}{name}")
        elif "default" in field:
            record[name] = field["default"]
        else:
            raise SchemaViolation(f"{path}{name}: missing")
    return record


def to_record(event: dict, catalog: Catalog | None = None) -> tuple[str, dict]:
    """Canonical JSON event -> (event type, Avro record). SchemaViolation on bad shapes."""
    if not isinstance(event, dict):
        raise SchemaViolation("an event must be a JSON object")
    body = dict(event)
    event_type = body.pop("type", None)
    if not isinstance(event_type, str):
        raise SchemaViolation("missing event type")
    version = (catalog or default_catalog()).latest(event_type)
    return event_type, _record_to_avro(version.definition, body, "")


def _to_json(value):
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def to_canonical(event_type: str, record: dict) -> dict:
    """Avro record -> canonical JSON event (envelope `type` first)."""
    return {"type": event_type, **_to_json(record)}
