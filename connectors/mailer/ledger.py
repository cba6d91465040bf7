"""The sent-ledger: which notification ids the mailer has taken on, in a sqlite file.

A notification is claimed (its id written and synced to disk) BEFORE the SMTP conversation
starts, then marked sent or failed. A claimed id is never mailed again, whatever its status:
a crash between claim and send loses that one mail, and never sends one twice. Ids left
`sending` are the mails a crash may have lost; `failed` ones were given up after retries.
No address or name is stored: the id, the kind and the times only.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

SENDING = "sending"
SENT = "sent"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "mailer" / "sent.sqlite3"


class SentLedger:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: every statement is its own transaction, durable when it returns
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # the claim is on disk before the send
        self._db.execute(_SCHEMA)

    def claim(self, notification_id: str, kind: str) -> bool:
        """Records the id as being sent; False when it was already recorded (do not send)."""
        now = _now()
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO notifications VALUES (?, ?, ?, ?, ?)",
            (notification_id, kind, SENDING, now, now),
        )
        return cursor.rowcount == 1

    def mark(self, notification_id: str, status: str) -> None:
        if status not in (SENT, FAILED):
            raise ValueError(f"not a final status: {status!r}")
        self._db.execute(
            "UPDATE notifications SET status = ?, updated_at = ? WHERE notification_id = ?",
            (status, _now(), notification_id),
        )

    def status(self, notification_id: str) -> str | None:
        row = self._db.execute(
            "SELECT status FROM notifications WHERE notification_id = ?", (notification_id,)
        ).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, count(*) FROM notifications GROUP BY status")
        return dict(rows.fetchall())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SentLedger:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
