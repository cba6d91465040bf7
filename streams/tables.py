"""Faust tables whose changelog records commit in the same transaction as their cause.

Faust sends a table's changelog record through its producer buffer as soon as the table is
written, while the event's outputs are attached to its offset and sent right before that
offset commits. With transactions the two can land in different transactions (seen here:
a reservation in the table, its offset committed, its changelog record in the transaction a
crash aborted: recovered without it). Attaching the changelog record to the event, like any
output, puts the state change, the outputs and the offset in one transaction.
"""

from __future__ import annotations

import faust
from faust.streams import current_event


def _send_attached(table, partition, key, value, key_serializer, value_serializer):
    event = current_event()
    if event is None:  # written outside an agent: nothing to be atomic with
        return None
    return event._attach(  # Faust's own mechanism for outputs committed with the offset
        table.changelog_topic,
        key,
        value,
        partition=partition,
        key_serializer=key_serializer or table.key_serializer,
        value_serializer=value_serializer or table.value_serializer,
        callback=table._on_changelog_sent,
    )


class Table(faust.Table):
    def send_changelog(self, partition, key, value, key_serializer=None, value_serializer=None):
        return _send_attached(self, partition, key, value, key_serializer, value_serializer) or (
            super().send_changelog(partition, key, value, key_serializer, value_serializer)
        )


class GlobalTable(faust.GlobalTable):
    def send_changelog(self, partition, key, value, key_serializer=None, value_serializer=None):
        return _send_attached(self, partition, key, value, key_serializer, value_serializer) or (
            super().send_changelog(partition, key, value, key_serializer, value_serializer)
        )
