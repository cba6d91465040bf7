"""The mailer end to end: notifications produced to the real broker, mailed through a real
SMTP server (aiosmtpd), one mail per notification id, and nothing again on a full replay."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from connectors.mailer.ledger import SENT, SentLedger, ledger_path
from connectors.mailer.mailer import build_mailer
from connectors.mailer.render import Templates
from oms.kafka_admin import GroupProgress, create_topics
from oms.settings import Settings
from schemas.serde import make_serde
from streams.topics import NOTIFICATIONS
from tests.unit.test_mailer_delivery import MAIL_FROM, inbox, notification

pytestmark = pytest.mark.integration
__all__ = ["inbox"]  # the fixture: a real SMTP server on a free loopback port

NOTIFICATIONS_SENT = [
    notification(),
    notification(
        notification_id="ntf-ORD-1002-shipping_confirmation",
        kind="shipping_confirmation",
        order_id="ORD-1002",
        recipient_email="grace@example.org",
        recipient_name="Grace Hopper",
    ),
    notification(
        notification_id="ntf-ORD-1003-delivery_exception-lost",
        kind="delivery_exception",
        order_id="ORD-1003",
        recipient_email="alan@example.net",
        recipient_name="Alan Turing",
        tracking_url="",
        details={"exception": "lost"},
    ),
]


def produce(settings: Settings, records: list[dict]) -> None:
    serde = make_serde(settings.schema_registry_url)
    producer = Producer(settings.producer_config())
    for record in records:
        producer.produce(
            NOTIFICATIONS.name(settings.topic_prefix),
            key=record["order_id"].encode(),
            value=serde.encode("Notification", record),
        )
    assert producer.flush(30) == 0


def mail_until_caught_up(settings: Settings, timeout: float = 90.0) -> None:
    """Runs the mailer until its group has committed every notification on the topic."""
    mailer = build_mailer(settings)
    progress = GroupProgress(settings, settings.mailer_group_id)
    deadline = time.monotonic() + timeout

    def caught_up() -> bool:
        assert time.monotonic() < deadline, "the mailer did not commit every notification"
        return progress.lag([mailer.topic]) == 0

    try:
        mailer.run(caught_up)
    finally:
        progress.close()


def duplicates() -> float:
    return sum(
        REGISTRY.get_sample_value("oms_mailer_duplicates_total", {"kind": n["kind"]}) or 0.0
        for n in NOTIFICATIONS_SENT
    )


def test_each_notification_is_mailed_once_even_when_duplicated_and_replayed(settings, inbox):
    settings = settings.model_copy(
        update={
            "smtp_port": inbox.port,
            "mail_from": MAIL_FROM,
            "mailer_group_id": f"{settings.app_id}-mailer",
        }
    )
    create_topics(settings)
    first, second, third = NOTIFICATIONS_SENT
    produce(settings, [first, second, third, second])  # the second one twice, same id

    before = duplicates()
    mail_until_caught_up(settings)
    assert len(inbox.messages) == 3
    received = sorted((rcpt, m["To"], m["Subject"]) for _, rcpt, m in inbox.messages)
    assert received == [
        (["ada@example.com"], "Ada Lovelace <ada@example.com>", "Your order ORD-1001 is confirmed"),
        (
            ["alan@example.net"],
            "Alan Turing <alan@example.net>",
            "A delay with your order ORD-1003",
        ),
        (
            ["grace@example.org"],
            "Grace Hopper <grace@example.org>",
            "Your order ORD-1002 is on its way",
        ),
    ]
    assert duplicates() == before + 1
    with SentLedger(ledger_path(settings.state_dir)) as ledger:
        assert ledger.counts() == {SENT: 3}

    # From scratch: a new process on the same state, its group reading the topic from the
    # start (what a reset of the group's offsets does). Every record is a duplicate now.
    replay = settings.model_copy(update={"mailer_group_id": f"{settings.app_id}-mailer-replay"})
    mail_until_caught_up(replay)
    assert len(inbox.messages) == 3
    assert duplicates() == before + 1 + 4


def test_a_batch_over_its_time_budget_is_cut_and_the_rest_read_again(settings, inbox):
    """A slow SMTP server must not keep the consumer from polling: the batch stops taking on
    mails after its budget (here: after the first) and seeks back; nothing is lost or doubled."""
    settings = settings.model_copy(
        update={"smtp_port": inbox.port, "mailer_group_id": f"{settings.app_id}-mailer"}
    )
    create_topics(settings)
    records = [
        notification(notification_id=f"ntf-{i}", order_id=f"ORD-{i}", kind=kind)
        for i, kind in enumerate(["order_confirmation", "follow_up"] * 4)
    ]
    produce(settings, records)
    mailer = build_mailer(settings)
    mailer.batch_budget = 0.0
    mailer.consumer.subscribe([mailer.topic])
    steps = []
    try:
        deadline = time.monotonic() + 60
        while sum(steps) < len(records):
            assert time.monotonic() < deadline, f"handled {sum(steps)} of {len(records)}"
            steps.append(mailer.step())
    finally:
        mailer.close()
    assert set(steps) <= {0, 1}
    assert sorted(m["Subject"] for _, _, m in inbox.messages) == sorted(
        Templates().render(r).subject for r in records
    )
