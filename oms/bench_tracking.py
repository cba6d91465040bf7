"""`oms bench tracking`: carrier scans/s through the parcels table and the exception rules,
with many shipments open, against raw consume+decode of the same scans."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from oms.bench import (
    BENCH_EPOCH,
    Measurement,
    _timed_from_first_commit,
    peak_rss_mib,
    publish_records,
    wait_caught_up,
)
from oms.kafka_admin import GroupProgress
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from streams.topics import CARRIER_SCANS, SHIPMENTS

_STATUSES = (
    ("in_transit", "arrived_at_facility", 60),
    ("in_transit", "departed_facility", 20),
    ("out_for_delivery", "", 8),
    ("delivered", "", 6),
    ("exception", "weather_delay", 3),
    ("failure", "recipient_unavailable", 3),
)


def tracking_number(n: int) -> str:
    return f"1ZBENCH{n:010d}"


def shipment_records(count: int) -> Iterator[tuple[str, dict, str]]:
    for n in range(count):
        number = tracking_number(n)
        record = {
            "event_id": str(uuid.UUID(int=n + 1, version=4)),
            "shipment_id": f"SH-{n}",
            "order_id": f"ORD-{n}",
            "location_id": "WH-1",
            "carrier": ("ups", "fedex", "usps")[n % 3],
            "service": "ground",
            "tracking_number": number,
            "shipped_at": BENCH_EPOCH,
            "promised_delivery_date": (BENCH_EPOCH + timedelta(days=4)).date(),
            "origin_country": "US",
            "origin_postal_code": "43215",
            "shipping_country": "US",
            "shipping_region": "PA",
            "tracking_url": "",
            "lines": [],
        }
        yield "ShipmentRecorded", record, number


def scan_records(count: int, shipments: int, seed: int) -> Iterator[tuple[str, dict, str]]:
    """Scans of random parcels, a second of event time apart, mostly in transit."""
    rng = random.Random(seed)
    statuses = [(s, d) for s, d, weight in _STATUSES for _ in range(weight)]
    for n in range(count):
        number = tracking_number(rng.randrange(shipments))
        status, detail = rng.choice(statuses)
        record = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": BENCH_EPOCH + timedelta(hours=1, seconds=n),
            "source": None,
            "tracking_number": number,
            "carrier": "ups",
            "status": status,
            "status_detail": detail or None,
            "carrier_code": None,
            "description": None,
            "location": None,
            "estimated_delivery_date": None,
        }
        yield "CarrierScan", record, number


def tracking_throughput(
    settings: Settings, shipments: int, scans: int, seed: int
) -> tuple[Measurement, Measurement]:
    """Loads the shipments (timed: parcels created/s), then times the scans until the worker
    has committed them all."""
    prefix = settings.topic_prefix
    shipments_topic, scans_topic = SHIPMENTS.name(prefix), CARRIER_SCANS.name(prefix)
    with LocalPipeline(settings, timeout=1800) as pipeline:
        progress = GroupProgress(settings, settings.app_id)
        partitions = progress.partitions([shipments_topic])
        publish_records(settings, shipments_topic, shipment_records(shipments))
        done_at_start, load_seconds = _timed_from_first_commit(
            progress,
            partitions,
            pipeline,
            lambda: wait_caught_up(progress, pipeline, [shipments_topic], "the shipments"),
        )
        started = time.perf_counter()
        publish_records(settings, scans_topic, scan_records(scans, shipments, seed))
        wait_caught_up(progress, pipeline, [scans_topic], "the scans")
        scan_seconds = time.perf_counter() - started
        rss = peak_rss_mib(pipeline.worker.process.pid)
        progress.close()
    load = Measurement(
        "shipments into the parcels table (1 worker)", shipments - done_at_start, load_seconds
    )
    judged = Measurement(
        f"scans through the parcels table and exception rules, {shipments:,} parcels open",
        scans,
        scan_seconds,
        rss,
    )
    return load, judged
