"""Sending one message by SMTP, and telling which failures are worth another try.

The conversation is run step by step so a failure can be placed: before DATA nothing was
handed over (a 4xx or a broken connection may be retried); a definite reply to DATA says
whether the server took it; a connection that breaks during DATA leaves it unknown
(DeliveryUncertain), and that is never retried, so a mail is not sent twice.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8


class DeliveryUncertain(Exception):
    """The connection broke while the server had the message: it may have been delivered."""


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Returns when the server accepted the message; raises otherwise."""
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            self._converse(smtp, message, sender, recipient)
        finally:
            try:
                smtp.quit()  # a failed goodbye changes nothing about the outcome
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _converse(
        self, smtp: smtplib.SMTP, message: EmailMessage, sender: str, recipient: str
    ) -> None:
        smtp.ehlo()
        if self.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self.password or "")
        international = not (sender + recipient).isascii()
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        code, reply = smtp.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, "")
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({"": (code, reply)})  # no address kept
        data = message.as_bytes(policy=SMTPUTF8 if international else SMTP)
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError:
            raise  # DATA itself was refused: the server took nothing
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryUncertain(type(exc).__name__) from exc
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)


def retryable(exc: BaseException) -> bool:
    """A failure another attempt may get past: 4xx replies, broken or refused connections."""
    if isinstance(exc, DeliveryUncertain | smtplib.SMTPNotSupportedError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500 or exc.smtp_code < 0
    return isinstance(exc, smtplib.SMTPException | OSError)


def describe(exc: BaseException) -> str:
    """For logs: the failure's type and SMTP code, never its text (it may hold an address)."""
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code = next(iter(exc.recipients.values()), (None,))[0]
    return f"{type(exc).__name__}" + (f" {code}" if code is not None else "")
