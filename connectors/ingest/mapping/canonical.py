"""POST /events: the canonical JSON events of events.md, one object or a list of them."""

from __future__ import annotations

from connectors.ingest.mapping import Rejected

SOURCE = "canonical"
MAX_EVENTS = 1000


def events(payload) -> list[dict]:
    batch = payload if isinstance(payload, list) else [payload]
    if not batch:
        raise Rejected("an empty list of events")
    if len(batch) > MAX_EVENTS:
        raise Rejected(f"at most {MAX_EVENTS} events per request")
    for n, event in enumerate(batch):
        if not isinstance(event, dict):
            raise Rejected(f"event {n}: an event must be a JSON object")
    return batch
