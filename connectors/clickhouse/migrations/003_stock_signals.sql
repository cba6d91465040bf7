-- Stock signals (low_stock, stock_out, oversold): one row per signal, replays collapse on signal_id.
CREATE TABLE IF NOT EXISTS stock_signals
(
    signal_id    String,
    kind         LowCardinality(String),
    sku          String,
    location_id  String,
    available    Int64,
    reservations Array(Tuple(order_id String, line_id String, location_id String, quantity UInt32)),
    occurred_at  DateTime64(3, 'UTC'),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (kind, sku, signal_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Stock per SKU across every location, from the latest level of each location.
CREATE VIEW IF NOT EXISTS inventory_totals AS
SELECT
    sku,
    sum(on_hand)    AS on_hand,
    sum(reserved)   AS reserved,
    sum(available)  AS available,
    max(updated_at) AS updated_at
FROM inventory_levels FINAL
GROUP BY sku;
