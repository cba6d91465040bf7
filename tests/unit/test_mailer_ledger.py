"""The sent-ledger: a claim is made once, survives a restart, and holds no personal data."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from connectors.mailer.ledger import FAILED, SENDING, SENT, SentLedger, ledger_path


def test_it_lives_under_the_state_directory(tmp_path):
    assert ledger_path(tmp_path) == tmp_path / "mailer" / "sent.sqlite3"
    with SentLedger(ledger_path(tmp_path)):
        assert (tmp_path / "mailer" / "sent.sqlite3").is_file()


def test_an_id_is_claimed_once(tmp_path):
    with SentLedger(tmp_path / "sent.sqlite3") as ledger:
        assert ledger.status("n-1") is None
        assert ledger.claim("n-1", "follow_up")
        assert ledger.status("n-1") == SENDING
        assert not ledger.claim("n-1", "follow_up")
        ledger.mark("n-1", SENT)
        assert not ledger.claim("n-1", "follow_up")
        assert ledger.status("n-1") == SENT


def test_claims_and_outcomes_survive_a_restart(tmp_path):
    path = tmp_path / "sent.sqlite3"
    with SentLedger(path) as ledger:
        for nid in ("n-1", "n-2", "n-3"):
            ledger.claim(nid, "order_confirmation")
        ledger.mark("n-1", SENT)
        ledger.mark("n-2", FAILED)
    with SentLedger(path) as ledger:  # n-3: the crash came between claim and send
        assert [ledger.status(n) for n in ("n-1", "n-2", "n-3")] == [SENT, FAILED, SENDING]
        assert ledger.counts() == {SENT: 1, FAILED: 1, SENDING: 1}
        assert not ledger.claim("n-3", "order_confirmation")


def test_two_processes_on_one_file_never_both_claim(tmp_path):
    path = tmp_path / "sent.sqlite3"
    with SentLedger(path) as one, SentLedger(path) as two:
        assert [one.claim("n-1", "k"), two.claim("n-1", "k")] == [True, False]


def test_only_final_outcomes_are_marked(tmp_path):
    with SentLedger(tmp_path / "sent.sqlite3") as ledger:
        ledger.claim("n-1", "k")
        with pytest.raises(ValueError):
            ledger.mark("n-1", SENDING)


def test_it_stores_ids_kinds_and_times_only(tmp_path):
    path: Path = tmp_path / "sent.sqlite3"
    with SentLedger(path) as ledger:
        ledger.claim("n-1", "shipping_confirmation")
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(notifications)")]
        assert columns == ["notification_id", "kind", "status", "claimed_at", "updated_at"]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
