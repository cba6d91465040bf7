"""Mail templates: every shipped kind renders, an override directory wins, a placeholder with
no value stays as written, and a kind never names a file outside the directory."""

from __future__ import annotations

import pytest

from connectors.mailer.render import (
    DEFAULT_DIR,
    KINDS,
    MessageTemplate,
    TemplateError,
    Templates,
    template_values,
)
from tests.unit.test_mailer_delivery import notification


@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_template_renders_a_realistic_notification(kind):
    n = notification(kind=kind)
    mail = Templates().render(n)
    assert mail is not None
    assert "ORD-1001" in mail.subject
    assert "\n" not in mail.subject
    assert mail.body.startswith("Hello Ada Lovelace,")
    assert "$" not in mail.subject + mail.body, "a shipped template uses a value it may lack"


def test_the_shipping_confirmation_links_the_tracking_page():
    mail = Templates().render(notification(kind="shipping_confirmation"))
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in mail.body


def test_the_shipped_directory_has_exactly_the_known_kinds():
    assert Templates().check() == sorted(KINDS)
    assert Templates().directory == DEFAULT_DIR


def test_an_override_directory_wins_and_lacks_what_it_does_not_have(tmp_path):
    (tmp_path / "order_confirmation.txt").write_text(
        "Subject: Merci, ${recipient_name}!\n\nCommande ${order_id}, le ${occurred_at}.\n"
    )
    templates = Templates(tmp_path)
    mail = templates.render(notification())
    assert mail.subject == "Merci, Ada Lovelace!"
    assert mail.body == "Commande ORD-1001, le 2025-03-01 14:05 UTC.\n"
    assert templates.render(notification(kind="follow_up")) is None
    assert templates.kinds() == ["order_confirmation"]


def test_a_placeholder_without_a_value_is_left_as_written(tmp_path, caplog):
    (tmp_path / "follow_up.txt").write_text(
        "Subject: ${order_id} ${no_such_value}\n"
        "Gift note: ${details_gift_note} / ${gift_note}; carrier ${details_carrier} ${carrier}\n"
        "Cost: $$5, $ alone, ${unclosed\n"
    )
    mail = Templates(tmp_path).render(notification(kind="follow_up"))
    assert mail.subject == "ORD-1001 ${no_such_value}"
    assert mail.body == (
        "Gift note: ${details_gift_note} / ${gift_note}; carrier ups ups\n"
        "Cost: $5, $ alone, ${unclosed\n"
    )
    assert "no_such_value" in caplog.text and "ada@example.com" not in caplog.text


def test_details_are_reachable_with_and_without_prefix_and_fields_win():
    values = template_values(notification(details={"carrier": "ups", "order_id": "spoofed"}))
    assert values["details_carrier"] == values["carrier"] == "ups"
    assert values["details_order_id"] == "spoofed"
    assert values["order_id"] == "ORD-1001"
    assert values["due_at"] == "2025-03-01 14:05 UTC"
    assert "details" not in values


def test_the_subject_stays_one_header_line():
    template = MessageTemplate.parse("Subject: For ${recipient_name}\n\nHi\n")
    mail = template.render({"recipient_name": "Eve\r\nBcc: everyone@example.com"})
    assert mail.subject == "For Eve Bcc: everyone@example.com"


def test_windows_line_ends_and_a_byte_order_mark_are_fine(tmp_path):
    (tmp_path / "follow_up.txt").write_bytes(
        "\ufeffSubject: Hi ${order_id}\r\n\r\nLine one\r\nLine two\r\n".encode()
    )
    mail = Templates(tmp_path).render(notification(kind="follow_up"))
    assert mail.subject == "Hi ORD-1001"
    assert mail.body == "Line one\nLine two\n"


@pytest.mark.parametrize(
    "text", ["Hello ${recipient_name}\n", "Subject:\n\nbody\n", "", "subject: lower\n"]
)
def test_a_template_without_a_subject_line_is_an_error(tmp_path, text):
    (tmp_path / "follow_up.txt").write_text(text)
    templates = Templates(tmp_path)
    with pytest.raises(TemplateError, match=r"follow_up\.txt"):
        templates.render(notification(kind="follow_up"))
    with pytest.raises(TemplateError):
        templates.check()


def test_a_missing_directory_fails_the_check(tmp_path):
    with pytest.raises(TemplateError, match="no such directory"):
        Templates(tmp_path / "nope").check()


@pytest.mark.parametrize("kind", ["../templates/order_confirmation", "", "Order", "a/b", "x" * 65])
def test_a_kind_that_is_no_plain_name_has_no_template(tmp_path, kind):
    (tmp_path / "order_confirmation.txt").write_text("Subject: x\n\ny\n")
    assert Templates(tmp_path / "..").render(notification(kind=kind)) is None
    assert Templates().render(notification(kind=kind)) is None
