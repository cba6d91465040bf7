-- 001: append-style tables fed straight from the input topics.
-- Every table is a ReplacingMergeTree so that a replay, a retried batch or a
-- worker restart that writes the same row again collapses under FINAL.
-- non_replicated_deduplication_window lets the sink pass an
-- insert_deduplication_token so a retried insert block is dropped outright.
-- Rows are deduplicated only inside one partition, so every partition column
-- below is a value that never changes for the row's identity.

-- Every accepted input event, verbatim (payload is the canonical JSON).
-- (type, event_id) is the identity: one event id is one event.
CREATE TABLE IF NOT EXISTS raw_events
(
    event_id    String,
    type        LowCardinality(String),
    topic       LowCardinality(String),
    partition   UInt16,
    offset      UInt64,
    key         String,
    occurred_at DateTime64(3, 'UTC'),
    source      LowCardinality(String),
    payload     String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (type, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per order lifecycle event (input events and derived status changes).
-- An event always has the same order_id and occurred_at, so the full key
-- dedups exactly like event_id would, and reads per order are range scans.
CREATE TABLE IF NOT EXISTS order_events
(
    event_id    String,
    order_id    String,
    type        LowCardinality(String),
    status      LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    channel     LowCardinality(String),
    location_id String,
    source      LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (order_id, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per carrier scan. Scans arrive late and out of order: keeping them
-- sorted by parcel and event time makes "latest scan per parcel" cheap.
-- Optional text fields are '' when absent, the date is NULL when absent.
CREATE TABLE IF NOT EXISTS carrier_scans
(
    event_id                String,
    tracking_number         String,
    carrier                 LowCardinality(String),
    status                  LowCardinality(String),
    status_detail           LowCardinality(String),
    carrier_code            String,
    description             String,
    location_city           String,
    location_region         LowCardinality(String),
    location_country        LowCardinality(String),
    location_postal_code    String,
    estimated_delivery_date Nullable(Date),
    occurred_at             DateTime64(3, 'UTC'),
    source                  LowCardinality(String),
    ingested_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (carrier, tracking_number, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Rejected input, identified by its Kafka coordinates (reprocessing the same
-- message after a restart rewrites the same key). The raw bytes stay on the
-- oms.dead-letters topic and are not copied here.
CREATE TABLE IF NOT EXISTS dead_letters
(
    topic       LowCardinality(String),
    partition   UInt16,
    offset      UInt64,
    error       String,
    event_type  Nullable(String),
    key         String,
    received_at DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000;

-- Latest state per location. Small table: no partitions. version (the
-- pipeline's monotonic version) decides which row wins, not insert order.
CREATE TABLE IF NOT EXISTS locations
(
    location_id  String,
    name         String,
    kind         LowCardinality(String),
    latitude     Float64,
    longitude    Float64,
    country      LowCardinality(String),
    postal_code  String,
    ships_orders Bool,
    updated_at   DateTime64(3, 'UTC'),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY location_id
SETTINGS non_replicated_deduplication_window = 1000;
