"""Message templates: one file per notification kind, `<kind>.txt`, that a retailer edits.

The first line is `Subject: ...`; the rest, after an optional blank line, is the plain-text
body. Both use string.Template placeholders, filled from the notification:

- its fields: ${notification_id}, ${kind}, ${order_id}, ${recipient_name},
  ${recipient_email}, ${recipient_key}, ${tracking_url}, ${occurred_at}, ${due_at}
  (times as "2025-03-01 14:05 UTC");
- each entry of its `details` map as ${details_<key>}, and as ${<key>} when no field has
  that name.

A placeholder with no value is left as written (safe_substitute), never an error. Files are
read for every message, so an edit applies to the next mail without a restart.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template

log = logging.getLogger(__name__)

KINDS = ("order_confirmation", "shipping_confirmation", "delivery_exception", "follow_up")
DEFAULT_DIR = Path(__file__).parent / "templates"
SUFFIX = ".txt"
_KIND_NAME = re.compile(r"[a-z0-9_]{1,64}")  # a kind names a file: nothing else gets through
_SUBJECT = "Subject:"


class TemplateError(ValueError):
    """A template file that is not `Subject: ...` followed by a body."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@dataclass(frozen=True)
class MessageTemplate:
    subject: Template
    body: Template

    @classmethod
    def parse(cls, text: str, source: str = "template") -> MessageTemplate:
        first, _, rest = text.replace("\r\n", "\n").partition("\n")
        if not first.startswith(_SUBJECT):
            raise TemplateError(f"{source}: the first line must be 'Subject: ...'")
        subject = first[len(_SUBJECT) :].strip()
        if not subject:
            raise TemplateError(f"{source}: the subject is empty")
        body = rest[1:] if rest.startswith("\n") else rest
        return cls(Template(subject), Template(body))

    def placeholders(self) -> set[str]:
        return set(self.subject.get_identifiers()) | set(self.body.get_identifiers())

    def render(self, values: dict[str, str]) -> Rendered:
        subject = " ".join(self.subject.safe_substitute(values).split())  # one header line
        return Rendered(subject, self.body.safe_substitute(values))


def template_values(notification: dict) -> dict[str, str]:
    """What the placeholders of a notification's template are filled with."""
    fields = {k: _text(v) for k, v in notification.items() if k != "details"}
    details = {str(k): str(v) for k, v in (notification.get("details") or {}).items()}
    return {
        **details,
        **{f"details_{k}": v for k, v in details.items()},
        **fields,
    }


def _text(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    return "" if value is None else str(value)


class Templates:
    """The templates of a directory (the shipped ones unless overridden), by kind."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory else DEFAULT_DIR

    def path(self, kind: str) -> Path | None:
        if not _KIND_NAME.fullmatch(kind):
            return None
        return self.directory / f"{kind}{SUFFIX}"

    def load(self, kind: str) -> MessageTemplate | None:
        """The kind's template; None when there is none. TemplateError when it is malformed."""
        path = self.path(kind)
        if path is None or not path.is_file():
            return None
        return MessageTemplate.parse(path.read_text(encoding="utf-8-sig"), str(path))

    def kinds(self) -> list[str]:
        return sorted(
            p.name.removesuffix(SUFFIX)
            for p in self.directory.glob(f"*{SUFFIX}")
            if _KIND_NAME.fullmatch(p.name.removesuffix(SUFFIX))
        )

    def check(self) -> list[str]:
        """Parses every template (TemplateError on the first bad one); returns the kinds, and
        logs the known kinds that have none (their notifications will be skipped)."""
        if not self.directory.is_dir():
            raise TemplateError(f"{self.directory}: no such directory")
        kinds = self.kinds()
        for kind in kinds:
            self.load(kind)
        missing = [k for k in KINDS if k not in kinds]
        if missing:
            log.warning("no mail template in %s for: %s", self.directory, ", ".join(missing))
        return kinds

    def render(self, notification: dict) -> Rendered | None:
        """The subject and body of a notification; None when its kind has no template."""
        template = self.load(notification["kind"])
        if template is None:
            return None
        values = template_values(notification)
        unfilled = template.placeholders() - values.keys()
        if unfilled:
            log.warning(
                "notification %s (%s): template placeholders without a value: %s",
                notification["notification_id"],
                notification["kind"],
                ", ".join(sorted(unfilled)),
            )
        return template.render(values)
