"""Loads the published Avro schemas of the repository: avro/<EventType>/v<N>.avsc.

Every published version stays in the repository; the newest is the one producers write and
consumers read with (Avro schema resolution bridges older writers). Without a Schema
Registry, a schema's id is derived from its canonical form, so every process agrees on it.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).parent / "avro"


@dataclass(frozen=True)
class SchemaVersion:
    event_type: str
    version: int
    definition: dict
    parsed: dict

    @property
    def full_name(self) -> str:
        return f"{self.definition['namespace']}.{self.definition['name']}"

    @property
    def canonical_form(self) -> str:
        return to_parsing_canonical_form(self.definition)

    @property
    def local_id(self) -> int:
        """A stable positive 31-bit id for the wire format when no registry assigns one."""
        return zlib.crc32(self.canonical_form.encode()) & 0x7FFFFFFF


class Catalog:
    def __init__(self, root: Path = SCHEMA_DIR) -> None:
        self._versions: dict[str, list[SchemaVersion]] = {}
        for path in sorted(root.glob("*/v*.avsc")):
            definition = json.loads(path.read_text())
            version = SchemaVersion(
                event_type=path.parent.name,
                version=int(path.stem[1:]),
                definition=definition,
                parsed=parse_schema(definition),
            )
            self._versions.setdefault(version.event_type, []).append(version)
        for versions in self._versions.values():
            versions.sort(key=lambda v: v.version)
        self._by_id = {v.local_id: v for vs in self._versions.values() for v in vs}

    @property
    def event_types(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, event_type: str) -> list[SchemaVersion]:
        return self._versions[event_type]

    def latest(self, event_type: str) -> SchemaVersion:
        try:
            return self._versions[event_type][-1]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def by_local_id(self, schema_id: int) -> SchemaVersion | None:
        return self._by_id.get(schema_id)


class UnknownEventType(KeyError):
    """An event type that no schema in the catalog describes."""


@cache
def default_catalog() -> Catalog:
    return Catalog()
