"""The postman against a real SMTP server (aiosmtpd on loopback): one mail per notification
id, claimed in the ledger before the send, retries for temporary refusals only, and no
address or name in the logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from connectors.mailer.ledger import FAILED, SENDING, SENT, SentLedger
from connectors.mailer.mailer import DUPLICATE, GAVE_UP, MAILED, SKIPPED, Postman
from connectors.mailer.render import Templates
from connectors.mailer.smtp import SmtpSender
from oms.localkafka import free_port

MAIL_FROM = "Example Shop <orders@shop.example>"


def notification(**overrides) -> dict:
    """A notification as the serde decodes it from oms.notifications."""
    at = datetime(2025, 3, 1, 14, 5, tzinfo=UTC)
    record = {
        "notification_id": "ntf-ORD-1001-order_confirmation",
        "kind": "order_confirmation",
        "order_id": "ORD-1001",
        "occurred_at": at,
        "due_at": at,
        "recipient_email": "ada@example.com",
        "recipient_name": "Ada Lovelace",
        "recipient_key": "ck_5b0e3c1d9a",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "details": {"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
    }
    return {**record, **overrides}


class Inbox:
    """A real SMTP server's handler: keeps what it accepts; `replies` answer DATA first."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.replies: list[str] = []
        self.on_data = None
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.on_data:
            self.on_data(envelope)
        if self.replies:
            reply = self.replies.pop(0)
            if not reply.startswith("250"):
                return reply
        message = message_from_bytes(envelope.content, policy=default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [m["Subject"] for _, _, m in self.messages]


@pytest.fixture
def inbox():
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def ledger(tmp_path):
    with SentLedger(tmp_path / "mailer" / "sent.sqlite3") as sent:
        yield sent


def postman(ledger: SentLedger, port: int, sleeps: list | None = None, **kw) -> Postman:
    return Postman(
        Templates(),
        ledger,
        SmtpSender("127.0.0.1", port, timeout=5),
        MAIL_FROM,
        attempts=3,
        backoff=0.5,
        sleep=(sleeps if sleeps is not None else []).append,
        **kw,
    )


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_notification_is_mailed_once_with_its_template(inbox, ledger):
    before = metric("oms_mailer_sent_total", kind="order_confirmation")
    dupes = metric("oms_mailer_duplicates_total", kind="order_confirmation")
    mailman = postman(ledger, inbox.port)
    assert mailman.deliver(notification()) == MAILED
    assert mailman.deliver(notification()) == DUPLICATE
    assert len(inbox.messages) == 1
    sender, recipients, message = inbox.messages[0]
    assert (sender, recipients) == ("orders@shop.example", ["ada@example.com"])
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == MAIL_FROM
    assert message["Subject"] == "Your order ORD-1001 is confirmed"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@shop.example>")
    assert "Hello Ada Lovelace," in message.get_content()
    assert ledger.status("ntf-ORD-1001-order_confirmation") == SENT
    assert metric("oms_mailer_sent_total", kind="order_confirmation") == before + 1
    assert metric("oms_mailer_duplicates_total", kind="order_confirmation") == dupes + 1


def test_the_id_is_on_disk_before_the_server_gets_the_message(inbox, ledger):
    seen = []
    inbox.on_data = lambda _envelope: seen.append(
        SentLedger(ledger.path).status("ntf-ORD-1001-order_confirmation")
    )
    postman(ledger, inbox.port).deliver(notification())
    assert seen == [SENDING]


def test_an_id_claimed_by_a_crashed_run_is_never_sent(inbox, ledger):
    ledger.claim("ntf-ORD-1001-order_confirmation", "order_confirmation")  # then the crash
    assert postman(ledger, inbox.port).deliver(notification()) == DUPLICATE
    assert inbox.messages == []


def test_non_ascii_names_and_subjects_go_through(inbox, ledger):
    n = notification(recipient_name="Zoë Ångström", notification_id="ntf-2")
    assert postman(ledger, inbox.port).deliver(n) == MAILED
    _, _, message = inbox.messages[0]
    assert str(message["To"]) == "Zoë Ångström <ada@example.com>"
    assert "Hello Zoë Ångström," in message.get_content()


def test_an_unknown_kind_is_skipped_and_not_recorded(inbox, ledger):
    before = metric("oms_mailer_skipped_total", reason="unknown_kind")
    n = notification(kind="birthday_coupon", notification_id="ntf-3")
    assert postman(ledger, inbox.port).deliver(n) == SKIPPED
    assert inbox.messages == [] and ledger.status("ntf-3") is None
    assert metric("oms_mailer_skipped_total", reason="unknown_kind") == before + 1


def test_temporary_refusals_are_retried_with_backoff(inbox, ledger):
    inbox.replies = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    sleeps: list[float] = []
    mailman = postman(ledger, inbox.port, sleeps)
    assert mailman.deliver(notification()) == MAILED
    assert sleeps == [0.5, 1.0]
    assert len(inbox.messages) == 1 and mailman.healthy


def test_still_failing_after_the_retries_is_marked_failed(inbox, ledger):
    inbox.replies = ["451 4.3.0 try again later"] * 3
    failed = metric("oms_mailer_failed_total", kind="order_confirmation")
    mailman = postman(ledger, inbox.port)
    assert mailman.deliver(notification()) == GAVE_UP
    assert inbox.messages == [] and not mailman.healthy
    assert ledger.status("ntf-ORD-1001-order_confirmation") == FAILED
    assert metric("oms_mailer_failed_total", kind="order_confirmation") == failed + 1
    assert mailman.deliver(notification()) == DUPLICATE  # failed is final: no resend on replay


def test_a_permanent_refusal_is_not_retried(inbox, ledger):
    inbox.replies = ["550 5.7.1 <ada@example.com>: message rejected"]
    sleeps: list[float] = []
    assert postman(ledger, inbox.port, sleeps).deliver(notification()) == GAVE_UP
    assert sleeps == [] and inbox.messages == []


def test_no_server_is_retried_then_failed(ledger):
    sleeps: list[float] = []
    assert postman(ledger, free_port(), sleeps).deliver(notification()) == GAVE_UP
    assert sleeps == [0.5, 1.0]
    assert ledger.status("ntf-ORD-1001-order_confirmation") == FAILED


@pytest.mark.parametrize(
    "address", ["", "ada", "ada@localhost", "Ada <ada@example.com>", "a@b.c, eve@d.e", "a b@c.d"]
)
def test_an_unusable_address_fails_without_talking_to_the_server(inbox, ledger, address):
    n = notification(recipient_email=address)
    assert postman(ledger, inbox.port).deliver(n) == GAVE_UP
    assert inbox.messages == []


def test_logs_name_the_notification_never_the_person(inbox, ledger, caplog):
    caplog.set_level(logging.DEBUG, logger="connectors.mailer")
    inbox.replies = ["451 4.2.0 mailbox of ada@example.com busy", "550 5.1.1 <ada@example.com>"]
    mailman = postman(ledger, inbox.port)
    mailman.deliver(notification())
    mailman.deliver(notification())
    mailman.deliver(notification(notification_id="ntf-4", kind="nope"))
    mailman.deliver(notification(notification_id="ntf-5", recipient_email="ada at example"))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("connectors.mailer")]
    assert any("ntf-ORD-1001-order_confirmation" in line for line in ours)
    for line in ours:
        assert "ada" not in line.lower() and "lovelace" not in line.lower(), line
