"""The mailer's Prometheus metrics (prefix oms_mailer_). Kinds are the notification kinds
that have a template, a small set; skip reasons are fixed."""

from __future__ import annotations

from prometheus_client import Counter

SENT = Counter(
    "oms_mailer_sent_total", "Notifications mailed (accepted by the SMTP server)", ["kind"]
)
DUPLICATES = Counter(
    "oms_mailer_duplicates_total",
    "Notifications not mailed: their id is already in the sent-ledger",
    ["kind"],
)
FAILED = Counter(
    "oms_mailer_failed_total",
    "Notifications given up on: refused by SMTP, or still failing after the retries",
    ["kind"],
)
SKIPPED = Counter(
    "oms_mailer_skipped_total",
    "Notifications not mailed: no template for the kind, a bad template, or undecodable",
    ["reason"],
)
SMTP_ERRORS = Counter("oms_mailer_smtp_errors_total", "Failed SMTP attempts, retried or not")
