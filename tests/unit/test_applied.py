"""Applied offsets and the outbox a value keeps until its message is committed."""

from dataclasses import dataclass, field

from streams.applied import AppliedOffsets


@dataclass
class Value(AppliedOffsets):
    applied: dict = field(default_factory=dict)
    outbox: dict = field(default_factory=dict)


def test_a_message_applied_is_recognised_when_read_again():
    value = Value()
    value.mark_applied("orders:1", 7)
    assert value.already_applied("orders:1", 7)
    assert value.already_applied("orders:1", 3)
    assert not value.already_applied("orders:1", 8)
    assert not value.already_applied("orders:2", 0)


def test_what_a_message_sent_is_kept_until_its_offset_is_committed():
    value = Value()
    sent = [("oms.order-status", b"O-1", b"\x00\x01binary"), ("oms.allocations", b"O-1", b"x")]
    value.mark_applied("orders:1", 7, sent)
    assert value.unsent("orders:1", 7) == sent
    assert value.unsent("orders:1", 6) == []
    # a later message of another source, while orders:1 has committed up to 7 (not past it)
    value.mark_applied("replies:0", 3, [], committed=lambda source: 7)
    assert value.unsent("orders:1", 7) == sent
    value.mark_applied("replies:0", 4, [], committed=lambda source: 8)
    assert value.unsent("orders:1", 7) == []
    assert value.outbox == {}
