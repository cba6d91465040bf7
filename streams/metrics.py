"""The worker's Prometheus metrics: one prefix (oms_), base units, no unbounded labels.

Labels are topic suffixes, event types, kinds, outcomes, carriers and partitions: small,
fixed sets. Documented in dashboards/README.md; alerting rules in dashboards/prometheus/.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "oms_events_processed_total", "Input records accepted, by topic and type", ["topic", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "oms_events_dead_lettered_total", "Input records sent to the dead-letter topic", ["topic"]
)
EVENTS_DUPLICATE = Counter(
    "oms_events_duplicate_total", "Input records skipped as duplicates", ["topic"]
)
EVENT_DELAY = Histogram(
    "oms_event_delay_seconds",
    "From event time (occurred_at) to processed, wall clock",
    ["topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
CONSUMER_LAG = Gauge(
    "oms_consumer_lag",
    "Records not yet committed, per assigned partition",
    ["topic", "partition"],
)
PARTITIONS_REREAD = Counter(
    "oms_partitions_reread_total",
    "Partitions read again from their committed offset, which Faust had left unprocessed",
    ["topic"],
)
WORKER_READY = Gauge("oms_worker_ready", "1 once tables are recovered and not rebalancing")
TABLE_RECOVERY_REMAINING = Gauge(
    "oms_table_recovery_remaining", "Changelog records left to recover", ["table"]
)
STOCK_SIGNALS = Counter("oms_stock_signals_total", "Stock signals raised, by kind", ["kind"])
STOCK_RESERVATIONS = Counter(
    "oms_stock_reservations_total", "Reserve commands, by outcome", ["outcome"]
)
STOCK_OUT_SKUS = Gauge("oms_stock_out_skus", "SKUs out of stock at every shipping location")
ORDER_UPDATES = Counter(
    "oms_order_updates_total",
    "Order lifecycle changes published, by type and resulting status",
    ["type", "status"],
)
BACKORDERED_LINES = Gauge(
    "oms_backordered_lines", "Order lines waiting for stock (changes seen by this worker)"
)
NOTIFICATIONS = Counter("oms_notifications_total", "Customer notifications published", ["kind"])
DELIVERY_EXCEPTIONS_OPENED = Counter(
    "oms_delivery_exceptions_opened_total", "Delivery exceptions opened", ["kind", "carrier"]
)
DELIVERY_EXCEPTIONS_OPEN = Gauge(
    "oms_delivery_exceptions_open",
    "Delivery exceptions open (opened minus resolved, seen by this worker)",
    ["kind", "carrier"],
)


def count_exception(record: dict) -> None:
    """A DeliveryException record published (opened, resolved or withdrawn)."""
    labels = (record["kind"], record["carrier"])
    if record["state"] == "opened":
        DELIVERY_EXCEPTIONS_OPENED.labels(*labels).inc()
        DELIVERY_EXCEPTIONS_OPEN.labels(*labels).inc()
    else:
        DELIVERY_EXCEPTIONS_OPEN.labels(*labels).dec()
