"""Versioned DDL: migrations/NNN_name.sql applied in order, each recorded in schema_migrations.

A file is split into statements on semicolons that end a line. Statements are idempotent
(IF NOT EXISTS), so a migration interrupted half-way is simply applied again.
"""

from __future__ import annotations

import re
from pathlib import Path

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    return sorted((int(path.name.split("_", 1)[0]), path) for path in directory.glob("*.sql"))


def statements(sql: str) -> list[str]:
    chunks = (chunk.strip() for chunk in _STATEMENT_END.split(sql))
    return [c for c in chunks if any(_is_code(line) for line in c.splitlines())]


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def migrate(client: Client, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Applies the migrations not yet recorded; returns the names of those applied now."""
    client.command(_LEDGER)
    done = {
        row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows
    }
    applied = []
    for version, path in migration_files(directory):
        if version in done:
            continue
        for statement in statements(path.read_text()):
            client.command(statement)
        client.insert("schema_migrations", [[version, path.stem]], column_names=["version", "name"])
        applied.append(path.stem)
    return applied
