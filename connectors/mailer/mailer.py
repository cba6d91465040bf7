"""The mailer's loop: consume notifications, mail each at most once, then commit offsets.

- Decode; no template for the kind: skipped (log + oms_mailer_skipped_total), offset committed.
- Already in the sent-ledger (a replay, a duplicate record): nothing is sent.
- Otherwise the id is claimed in the ledger, then the message goes out by SMTP. Temporary
  failures are retried with backoff a few times; then, or at once for a permanent refusal,
  the notification is marked failed and the mailer moves on.
- Offsets are committed after the batch's notifications are handled. A crash before the
  commit re-reads them; the ledger drops those already claimed.
- A batch stops taking on new mails once it has run for `batch_budget` seconds; the rest is
  re-read by the next consume(), so a slow SMTP server never keeps the consumer from polling
  longer than Kafka's max.poll.interval.ms.

Logs name the notification_id and kind only: addresses and names are personal data.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from connectors.mailer import metrics
from connectors.mailer.ledger import FAILED, SENT, SentLedger, ledger_path
from connectors.mailer.render import KINDS, Rendered, TemplateError, Templates
from connectors.mailer.smtp import SmtpSender, describe, retryable
from oms.settings import Settings
from schemas.serde import AvroSerde, DecodeError, make_serde
from streams.topics import NOTIFICATIONS

log = logging.getLogger(__name__)

# what handling a notification came to
MAILED, DUPLICATE, GAVE_UP, SKIPPED = "sent", "duplicate", "failed", "skipped"


class UnusableAddress(ValueError):
    """The recipient is no single plain email address."""


class Postman:
    """Renders, claims in the ledger, sends, records: one notification at a time."""

    def __init__(
        self,
        templates: Templates,
        ledger: SentLedger,
        sender: SmtpSender,
        mail_from: str,
        attempts: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.templates = templates
        self.ledger = ledger
        self.sender = sender
        self.mail_from = mail_from
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.healthy = True  # the last SMTP attempt went through (readiness)
        for kind in KINDS:  # series exist at 0 from the start, so rate() sees the first one
            for counter in (metrics.SENT, metrics.DUPLICATES, metrics.FAILED):
                counter.labels(kind)
        for reason in ("unknown_kind", "bad_template", "undecodable"):
            metrics.SKIPPED.labels(reason)

    def deliver(self, notification: dict) -> str:
        nid, kind = notification["notification_id"], notification["kind"]
        if self.ledger.status(nid) is not None:
            return self._duplicate(nid, kind)
        try:
            rendered = self.templates.render(notification)
        except TemplateError as exc:
            log.error("notification %s (%s) skipped: %s", nid, kind, exc)
            metrics.SKIPPED.labels("bad_template").inc()
            return SKIPPED
        if rendered is None:
            log.warning("notification %s skipped: no mail template for kind %r", nid, kind[:64])
            metrics.SKIPPED.labels("unknown_kind").inc()
            return SKIPPED
        if not self.ledger.claim(nid, kind):
            return self._duplicate(nid, kind)
        try:
            recipient, message = self.compose(notification, rendered)
        except ValueError as exc:  # a bad address or header: no attempt can succeed
            return self._give_up(nid, kind, f"cannot compose the message ({type(exc).__name__})")
        return self._send(nid, kind, recipient, message)

    def _duplicate(self, nid: str, kind: str) -> str:
        log.info("notification %s (%s) already in the sent-ledger: not sent again", nid, kind)
        metrics.DUPLICATES.labels(kind).inc()
        return DUPLICATE

    def _send(self, nid: str, kind: str, recipient: str, message: EmailMessage) -> str:
        sender = parseaddr(self.mail_from)[1] or self.mail_from
        backoff = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                self.sender.send(message, sender, recipient)
            except Exception as exc:
                metrics.SMTP_ERRORS.inc()
                self.healthy = False
                if not retryable(exc) or attempt == self.attempts:
                    return self._give_up(nid, kind, f"{describe(exc)} (attempt {attempt})")
                log.warning(
                    "notification %s (%s): SMTP attempt %d failed (%s), retrying in %.1fs",
                    nid,
                    kind,
                    attempt,
                    describe(exc),
                    backoff,
                )
                self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            else:
                self.healthy = True
                self.ledger.mark(nid, SENT)
                metrics.SENT.labels(kind).inc()
                log.info("notification %s (%s) sent", nid, kind)
                return MAILED
        raise AssertionError("unreachable")  # pragma: no cover

    def _give_up(self, nid: str, kind: str, why: str) -> str:
        self.ledger.mark(nid, FAILED)
        metrics.FAILED.labels(kind).inc()
        log.error("notification %s (%s) not sent, marked failed: %s", nid, kind, why)
        return GAVE_UP

    def compose(self, notification: dict, rendered: Rendered) -> tuple[str, EmailMessage]:
        """The envelope recipient and the message. ValueError when the address is unusable."""
        recipient = notification["recipient_email"].strip()
        name = " ".join(notification["recipient_name"].split())
        if not _usable_address(recipient):
            raise UnusableAddress
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = formataddr((name, recipient))
        message["Subject"] = rendered.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = _message_id(notification["notification_id"], self.mail_from)
        message["Auto-Submitted"] = "auto-generated"
        message["X-OMS-Notification-Id"] = notification["notification_id"]
        message["X-OMS-Notification-Kind"] = notification["kind"]
        message.set_content(rendered.body)
        return recipient, message


def _usable_address(address: str) -> bool:
    """local@domain, nothing around it: no spaces, controls, brackets or second address."""
    local, at, domain = address.rpartition("@")
    return bool(
        at
        and local
        and "." in domain.strip(".")
        and not any(c.isspace() or not c.isprintable() or c in '<>(),;:"[]\\' for c in domain)
        and not any(c.isspace() or not c.isprintable() or c in "<>(),;" for c in local)
    )


def _message_id(notification_id: str, mail_from: str) -> str:
    """Stable per notification, so a receiving system can spot a copy too."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "oms-stream.invalid"
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    return f"<{digest}.notification@{domain}>"


class Mailer:
    def __init__(
        self,
        consumer_config: dict,
        topic: str,
        serde: AvroSerde,
        postman: Postman,
        batch_size: int = 50,
        poll_timeout: float = 1.0,
        batch_budget: float = 60.0,
    ) -> None:
        self.topic = topic
        self.serde = serde
        self.postman = postman
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.batch_budget = batch_budget
        self.consumer = Consumer(
            {
                **consumer_config,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )

    @property
    def healthy(self) -> bool:
        return self.postman.healthy

    def run(self, should_stop: Callable[[], bool]) -> None:
        self.consumer.subscribe([self.topic])
        try:
            while not should_stop():
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        self.consumer.close()
        self.postman.ledger.close()

    def step(self) -> int:
        """One batch: consume, handle each notification, commit. Returns the number handled."""
        messages = self.consumer.consume(self.batch_size, timeout=self.poll_timeout)
        started = time.monotonic()
        done: dict[tuple[str, int], int] = {}
        rewind: dict[tuple[str, int], int] = {}
        handled = 0
        for message in messages:
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            tp = (message.topic(), message.partition())
            if tp in rewind or (done and time.monotonic() - started > self.batch_budget):
                rewind.setdefault(tp, message.offset())
                continue
            self.handle(message)
            done[tp] = message.offset() + 1
            handled += 1
        for (topic, partition), offset in rewind.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))
        if done:
            self._commit([TopicPartition(t, p, o) for (t, p), o in done.items()])
        return handled

    def handle(self, message: Message) -> str:
        try:
            _, notification = self.serde.decode(message.value())
        except DecodeError as exc:
            log.error(
                "undecodable record at %s/%d@%d skipped: %s",
                message.topic(),
                message.partition(),
                message.offset(),
                exc,
            )
            metrics.SKIPPED.labels("undecodable").inc()
            return SKIPPED
        return self.postman.deliver(notification)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. a rebalance took the partitions meanwhile
            log.warning("offset commit failed (the ledger drops what is re-read): %s", exc)


def build_mailer(settings: Settings) -> Mailer:
    """The mailer of these settings: its consumer group, SMTP server, templates and ledger."""
    templates = Templates(settings.mail_templates_dir)
    templates.check()
    password = settings.smtp_password
    sender = SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username,
        password=password.get_secret_value() if password else None,
        starttls=settings.smtp_starttls,
    )
    postman = Postman(
        templates, SentLedger(ledger_path(settings.state_dir)), sender, settings.mail_from
    )
    return Mailer(
        {
            **settings.kafka_client_config(),
            "group.id": settings.mailer_group_id,
            "session.timeout.ms": int(settings.session_timeout * 1000),
        },
        NOTIFICATIONS.name(settings.topic_prefix),
        make_serde(settings.schema_registry_url),
        postman,
    )
