"""Avro in the Confluent wire format: magic byte 0, a 4-byte big-endian schema id, the body.

Schema ids come from a Schema Registry when one is configured (subjects named after the
record, so one topic can carry several event types) and from the local catalog otherwise.
"""

from __future__ import annotations

import io
import json
import struct

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from schemas.catalog import Catalog, SchemaVersion, default_catalog

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """Bytes that are not a record of any known schema."""


class SchemaViolation(ValueError):
    """A record that its event type's schema does not accept."""


class AvroSerde:
    def __init__(self, catalog: Catalog | None = None, registry=None) -> None:
        """registry: a confluent_kafka.schema_registry.SchemaRegistryClient, or None."""
        self.catalog = catalog or default_catalog()
        self.registry = registry
        self._write_ids: dict[str, int] = {}
        self._writer_by_id: dict[int, SchemaVersion | dict] = {}

    def _write_id(self, version: SchemaVersion) -> int:
        schema_id = self._write_ids.get(version.event_type)
        if schema_id is None:
            if self.registry is None:
                schema_id = version.local_id
            else:
                from confluent_kafka.schema_registry import Schema

                schema = Schema(json.dumps(version.definition), "AVRO")
                schema_id = self.registry.register_schema(version.full_name, schema)
            self._write_ids[version.event_type] = schema_id
        return schema_id

    def encode(self, event_type: str, record: dict) -> bytes:
        """Validates against the newest schema of the type and encodes; SchemaViolation if not."""
        version = self.catalog.latest(event_type)
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC_BYTE, self._write_id(version)))
        try:
            validate(record, version.parsed, raise_errors=True)
            schemaless_writer(buffer, version.parsed, record)
        except (ValidationError, ValueError, TypeError) as exc:  # also: decimal precision
            raise SchemaViolation(f"{event_type}: {exc}") from None
        return buffer.getvalue()

    def _writer_schema(self, schema_id: int) -> tuple[str, dict]:
        known = self.catalog.by_local_id(schema_id)
        if known is not None:
            return known.event_type, known.parsed
        if self.registry is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        cached = self._writer_by_id.get(schema_id)
        if cached is None:
            definition = json.loads(self.registry.get_schema(schema_id).schema_str)
            cached = self._writer_by_id[schema_id] = {
                "event_type": definition["name"],
                "parsed": parse_schema(definition),
            }
        return cached["event_type"], cached["parsed"]

    def decode(self, data: bytes | None) -> tuple[str, dict]:
        """Returns (event_type, record) read with the newest schema of that type."""
        if not data or len(data) < _HEADER.size:
            raise DecodeError("too short for the Avro wire format")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise DecodeError(f"not the Avro wire format (magic byte {magic})")
        event_type, writer = self._writer_schema(schema_id)
        reader = self.catalog.latest(event_type).parsed
        body = io.BytesIO(data[_HEADER.size :])
        try:
            record = schemaless_reader(body, writer, reader)
        except Exception as exc:
            raise DecodeError(f"undecodable {event_type} body: {exc!r}") from None
        if body.tell() != len(data) - _HEADER.size:
            raise DecodeError(f"trailing bytes after a {event_type} record")
        return event_type, record


def make_serde(schema_registry_url: str | None) -> AvroSerde:
    """The serde of a process: Schema Registry ids when a registry is configured."""
    if not schema_registry_url:
        return AvroSerde()
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return AvroSerde(registry=SchemaRegistryClient({"url": schema_registry_url}))
