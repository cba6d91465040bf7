-- 002: derived state written by the stream processors.
-- Latest-state tables are ReplacingMergeTree(version) ordered by their
-- identity key: the row with the highest version wins under FINAL (or
-- argMax(..., version)), whatever order duplicates and replays arrive in.
-- Rows are deduplicated only inside one partition, so a table is partitioned
-- only by a column that never changes for its key, and only if it grows
-- without bound. Log tables are ReplacingMergeTree keyed by their own id.

-- Latest state per order. placed_at is fixed at OrderPlaced, so the monthly
-- partition of an order never moves. Stage timestamps are NULL until reached.
CREATE TABLE IF NOT EXISTS orders
(
    order_id               String,
    channel                LowCardinality(String),
    status                 LowCardinality(String),
    placed_at              DateTime64(3, 'UTC'),
    hold_until             Nullable(DateTime64(3, 'UTC')),
    allocated_at           Nullable(DateTime64(3, 'UTC')),
    picked_at              Nullable(DateTime64(3, 'UTC')),
    packed_at              Nullable(DateTime64(3, 'UTC')),
    shipped_at             Nullable(DateTime64(3, 'UTC')),
    delivered_at           Nullable(DateTime64(3, 'UTC')),
    cancelled_at           Nullable(DateTime64(3, 'UTC')),
    cancel_reason          LowCardinality(String),
    ship_by_at             Nullable(DateTime64(3, 'UTC')),
    promised_delivery_date Nullable(Date),
    shipping_country       LowCardinality(String),
    shipping_region        LowCardinality(String),
    shipping_city          String,
    shipping_method        LowCardinality(String),
    line_count             UInt32,
    order_total            Decimal(12, 2),
    currency               LowCardinality(String),
    customer_key           String,
    updated_at             DateTime64(3, 'UTC'),
    version                UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(placed_at)
ORDER BY order_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Latest state per order line x location. location_id is '' while the line
-- is backordered. Bounded by the orders themselves: no time partition.
CREATE TABLE IF NOT EXISTS order_allocations
(
    order_id    String,
    line_id     String,
    sku         String,
    location_id String,
    quantity    UInt32,
    state       LowCardinality(String),
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (order_id, line_id, location_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Latest stock per sku x location. Int64: on hand can go negative through
-- adjustments and counts. Bounded by the catalog: no partition.
CREATE TABLE IF NOT EXISTS inventory_levels
(
    sku         String,
    location_id String,
    on_hand     Int64,
    reserved    Int64,
    available   Int64,
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (sku, location_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- The stock ledger: one row per movement, never updated. A movement's
-- occurred_at is its source event's time, so its partition is stable.
-- order_id is '' for movements not caused by an order.
CREATE TABLE IF NOT EXISTS inventory_movements
(
    movement_id    String,
    event_id       String,
    sku            String,
    location_id    String,
    on_hand_delta  Int64,
    reserved_delta Int64,
    reason         LowCardinality(String),
    order_id       String,
    occurred_at    DateTime64(3, 'UTC'),
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY movement_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Latest state per shipment. shipped_at (ShipmentCreated time) is set once
-- and never NULL, so it is a stable partition column.
CREATE TABLE IF NOT EXISTS shipments
(
    shipment_id                    String,
    order_id                       String,
    location_id                    String,
    carrier                        LowCardinality(String),
    service                        LowCardinality(String),
    tracking_number                String,
    status                         LowCardinality(String),
    status_detail                  LowCardinality(String),
    shipped_at                     DateTime64(3, 'UTC'),
    delivered_at                   Nullable(DateTime64(3, 'UTC')),
    promised_delivery_date         Nullable(Date),
    latest_estimated_delivery_date Nullable(Date),
    last_scan_at                   Nullable(DateTime64(3, 'UTC')),
    origin_country                 LowCardinality(String),
    origin_postal_code             String,
    shipping_country               LowCardinality(String),
    shipping_region                LowCardinality(String),
    updated_at                     DateTime64(3, 'UTC'),
    version                        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(shipped_at)
ORDER BY shipment_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Latest state per delivery exception (opened, then maybe resolved).
-- opened_at is fixed when the exception opens: stable partition column.
-- region is the shipping (destination) region.
CREATE TABLE IF NOT EXISTS delivery_exceptions
(
    exception_id       String,
    kind               LowCardinality(String),
    severity           LowCardinality(String),
    tracking_number    String,
    shipment_id        String,
    order_id           String,
    carrier            LowCardinality(String),
    status_detail      LowCardinality(String),
    carrier_code       String,
    detail             String,
    region             LowCardinality(String),
    origin_location_id String,
    opened_at          DateTime64(3, 'UTC'),
    resolved_at        Nullable(DateTime64(3, 'UTC')),
    updated_at         DateTime64(3, 'UTC'),
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY exception_id
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per customer notification. due_at is computed from event time,
-- so a replay reproduces the same id and due_at (same partition).
CREATE TABLE IF NOT EXISTS notifications
(
    notification_id String,
    order_id        String,
    kind            LowCardinality(String),
    due_at          DateTime64(3, 'UTC'),
    recipient_key   String,
    tracking_url    String,
    payload         String,
    created_at      DateTime64(3, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(due_at)
ORDER BY notification_id
SETTINGS non_replicated_deduplication_window = 1000;
