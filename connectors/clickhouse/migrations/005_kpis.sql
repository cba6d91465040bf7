-- 005: the analytics KPIs (shared/spec/analytics.md) as rollup tables and kpi_* views.
--
-- No materialized view: one fed by inserts counts a row again whenever the sink writes it
-- again in a batch formed differently (after a crash or a retry), and nothing can take that
-- back. A rollup is recomputed instead, by the sink (connectors/clickhouse/rollups.py), from
-- the FINAL state tables, for the buckets (days or hours) a batch touched, after the batch's
-- inserts and before its offset commit.
--
-- A rollup row belongs to a bucket and a generation: each recompute of a bucket writes every
-- row of that bucket again with a new, larger generation (the recompute's start, in ns).
-- The rows of a bucket are those of its latest generation (the *_current views), so a row
-- whose dimensions stopped existing (an order that moved to another status) leaves with its
-- old generation. ReplacingMergeTree(generation) lets merges drop the superseded rows.
--
-- Every bucket comes from a column that never changes once set (placed_at, shipped_at of a
-- shipment, opened_at, occurred_at): the rows of a batch name every bucket the batch can
-- change, and a bucket once written never loses all its rows.
--
-- Durations are seconds. Quantile states are exact (quantileExactInclusive: linear
-- interpolation between the closest ranks, like numpy's default), so they merge exactly.

-- Orders per placement hour, channel and status now (funnel).
CREATE TABLE IF NOT EXISTS rollup_orders_hourly
(
    hour        DateTime('UTC'),
    channel     LowCardinality(String),
    status      LowCardinality(String),
    orders      UInt64,
    lines       UInt64,
    order_total Decimal(18, 2),
    generation  UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, channel, status);

-- Orders per placement day, channel and the location of their first shipment ('' until one
-- ships): what became of them (on-time shipment).
CREATE TABLE IF NOT EXISTS rollup_orders_daily
(
    day               Date,
    channel           LowCardinality(String),
    location_id       String,
    orders            UInt64,
    cancelled         UInt64,
    awaiting_shipment UInt64,
    shipped           UInt64,
    shipped_on_time   UInt64,
    delivered         UInt64,
    generation        UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, location_id);

-- Durations of the orders placed on a day, per channel, first-shipment location and measure:
-- order_to_ship, release_to_ship and the stage dwell times (on_hold, allocated_to_picked,
-- picked_to_packed, packed_to_shipped, shipped_to_delivered). orders: how many reached the
-- end of the measure.
CREATE TABLE IF NOT EXISTS rollup_order_durations_daily
(
    day         Date,
    channel     LowCardinality(String),
    location_id String,
    measure     LowCardinality(String),
    orders      UInt64,
    seconds     AggregateFunction(quantilesExactInclusive(0.5, 0.9), Float64),
    generation  UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, location_id, measure);

-- Order lifecycle events per event hour, channel and status after the event (throughput).
-- transitions: the events that changed the status (new orders included).
CREATE TABLE IF NOT EXISTS rollup_order_flow_hourly
(
    hour        DateTime('UTC'),
    channel     LowCardinality(String),
    status      LowCardinality(String),
    events      UInt64,
    transitions UInt64,
    generation  UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, channel, status);

-- Shipments per ship day, carrier, service, destination region and origin location.
CREATE TABLE IF NOT EXISTS rollup_shipments_daily
(
    day                Date,
    carrier            LowCardinality(String),
    service            LowCardinality(String),
    region             LowCardinality(String),
    origin_location_id String,
    shipments          UInt64,
    delivered          UInt64,
    delivered_promised UInt64,
    delivered_on_time  UInt64,
    generation         UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, carrier, service, region, origin_location_id);

-- Delivery exceptions per opening day, carrier, kind, region, origin and state (opened,
-- resolved, withdrawn). Withdrawn ones are kept here and left out by the kpi_* views.
CREATE TABLE IF NOT EXISTS rollup_exceptions_daily
(
    day                Date,
    carrier            LowCardinality(String),
    kind               LowCardinality(String),
    region             LowCardinality(String),
    origin_location_id String,
    state              LowCardinality(String),
    exceptions         UInt64,
    generation         UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, carrier, kind, region, origin_location_id, state);

-- Order lines that went through allocation, per placement day of their order, channel and
-- SKU; backordered_lines: those ever backordered (a row with location_id '').
CREATE TABLE IF NOT EXISTS rollup_order_lines_daily
(
    day               Date,
    channel           LowCardinality(String),
    sku               String,
    lines             UInt64,
    backordered_lines UInt64,
    generation        UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, sku);

-- Ledger movements per day, SKU, location and reason ("received <reference>" counts as
-- received).
CREATE TABLE IF NOT EXISTS rollup_movements_daily
(
    day            Date,
    sku            String,
    location_id    String,
    reason         LowCardinality(String),
    movements      UInt64,
    on_hand_delta  Int64,
    reserved_delta Int64,
    generation     UInt64
)
ENGINE = ReplacingMergeTree(generation)
PARTITION BY toYYYYMM(day)
ORDER BY (day, sku, location_id, reason);

-- The rows of each bucket's latest generation.
CREATE VIEW IF NOT EXISTS rollup_orders_hourly_current AS
SELECT * EXCEPT (generation)
FROM rollup_orders_hourly FINAL
WHERE (hour, generation) IN (SELECT hour, max(generation) FROM rollup_orders_hourly GROUP BY hour);

CREATE VIEW IF NOT EXISTS rollup_orders_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_orders_daily FINAL
WHERE (day, generation) IN (SELECT day, max(generation) FROM rollup_orders_daily GROUP BY day);

CREATE VIEW IF NOT EXISTS rollup_order_durations_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_order_durations_daily FINAL
WHERE (day, generation) IN
    (SELECT day, max(generation) FROM rollup_order_durations_daily GROUP BY day);

CREATE VIEW IF NOT EXISTS rollup_order_flow_hourly_current AS
SELECT * EXCEPT (generation)
FROM rollup_order_flow_hourly FINAL
WHERE (hour, generation) IN
    (SELECT hour, max(generation) FROM rollup_order_flow_hourly GROUP BY hour);

CREATE VIEW IF NOT EXISTS rollup_shipments_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_shipments_daily FINAL
WHERE (day, generation) IN (SELECT day, max(generation) FROM rollup_shipments_daily GROUP BY day);

CREATE VIEW IF NOT EXISTS rollup_exceptions_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_exceptions_daily FINAL
WHERE (day, generation) IN (SELECT day, max(generation) FROM rollup_exceptions_daily GROUP BY day);

CREATE VIEW IF NOT EXISTS rollup_order_lines_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_order_lines_daily FINAL
WHERE (day, generation) IN (SELECT day, max(generation) FROM rollup_order_lines_daily GROUP BY day);

CREATE VIEW IF NOT EXISTS rollup_movements_daily_current AS
SELECT * EXCEPT (generation)
FROM rollup_movements_daily FINAL
WHERE (day, generation) IN (SELECT day, max(generation) FROM rollup_movements_daily GROUP BY day);

-- Order-to-ship and release-to-ship (from the hold's end) of the orders placed on a day, per
-- channel and the location of their first shipment: median and p90, seconds.
CREATE VIEW IF NOT EXISTS kpi_order_to_ship AS
SELECT
    day,
    channel,
    location_id,
    shipped_orders,
    round(order_to_ship[1], 3)   AS order_to_ship_p50_s,
    round(order_to_ship[2], 3)   AS order_to_ship_p90_s,
    round(release_to_ship[1], 3) AS release_to_ship_p50_s,
    round(release_to_ship[2], 3) AS release_to_ship_p90_s
FROM
(
    SELECT
        day,
        channel,
        location_id,
        sumIf(orders, measure = 'order_to_ship') AS shipped_orders,
        quantilesExactInclusiveMergeIf(0.5, 0.9)(seconds, measure = 'order_to_ship') AS order_to_ship,
        quantilesExactInclusiveMergeIf(0.5, 0.9)(seconds, measure = 'release_to_ship') AS release_to_ship
    FROM rollup_order_durations_daily_current
    WHERE measure IN ('order_to_ship', 'release_to_ship')
    GROUP BY day, channel, location_id
)
WHERE shipped_orders > 0;

-- Stage dwell times of the orders placed on a day: median and p90, seconds.
CREATE VIEW IF NOT EXISTS kpi_stage_dwell AS
SELECT
    day,
    channel,
    location_id,
    stage,
    orders,
    round(dwell[1], 3) AS p50_s,
    round(dwell[2], 3) AS p90_s
FROM
(
    SELECT
        day,
        channel,
        location_id,
        measure AS stage,
        sum(orders) AS orders,
        quantilesExactInclusiveMerge(0.5, 0.9)(seconds) AS dwell
    FROM rollup_order_durations_daily_current
    WHERE measure IN
        ('on_hold', 'allocated_to_picked', 'picked_to_packed', 'packed_to_shipped', 'shipped_to_delivered')
    GROUP BY day, channel, location_id, measure
)
WHERE orders > 0;

-- On-time shipment of the orders placed on a day: shipped at or before their ship-by time.
CREATE VIEW IF NOT EXISTS kpi_on_time_shipment AS
SELECT
    day,
    channel,
    location_id,
    shipped,
    shipped_on_time,
    if(shipped = 0, NULL, shipped_on_time / shipped) AS on_time_rate,
    awaiting_shipment
FROM rollup_orders_daily_current
WHERE shipped > 0 OR awaiting_shipment > 0;

-- Carrier on-time delivery of the shipments shipped on a day: delivered on a date (UTC) on or
-- before promised_delivery_date, among the delivered shipments that had a promise.
CREATE VIEW IF NOT EXISTS kpi_carrier_on_time_delivery AS
SELECT
    day,
    carrier,
    service,
    sum(shipments)          AS shipments,
    sum(delivered)          AS delivered,
    sum(delivered_promised) AS delivered_promised,
    sum(delivered_on_time)  AS delivered_on_time,
    if(delivered_promised = 0, NULL, delivered_on_time / delivered_promised) AS on_time_rate
FROM rollup_shipments_daily_current
GROUP BY day, carrier, service;

-- Delivery exceptions (withdrawn ones left out) opened on a day per 100 shipments shipped on
-- that day, per carrier, destination region and origin location.
CREATE VIEW IF NOT EXISTS kpi_exception_rate AS
SELECT
    day,
    carrier,
    region,
    origin_location_id,
    shipments,
    exceptions,
    if(shipments = 0, NULL, 100 * exceptions / shipments) AS exceptions_per_100_shipments
FROM
(
    SELECT day, carrier, region, origin_location_id, sum(shipments) AS shipments
    FROM rollup_shipments_daily_current
    GROUP BY day, carrier, region, origin_location_id
) AS s
FULL OUTER JOIN
(
    SELECT day, carrier, region, origin_location_id, sum(exceptions) AS exceptions
    FROM rollup_exceptions_daily_current
    WHERE state != 'withdrawn'
    GROUP BY day, carrier, region, origin_location_id
) AS e USING (day, carrier, region, origin_location_id)
SETTINGS join_use_nulls = 0;

-- The same per exception kind (shipments: all shipments of the day, carrier, region, origin).
CREATE VIEW IF NOT EXISTS kpi_exception_rate_by_kind AS
SELECT
    day,
    carrier,
    kind,
    region,
    origin_location_id,
    exceptions,
    shipments,
    if(shipments = 0, NULL, 100 * exceptions / shipments) AS exceptions_per_100_shipments
FROM
(
    SELECT day, carrier, kind, region, origin_location_id, sum(exceptions) AS exceptions
    FROM rollup_exceptions_daily_current
    WHERE state != 'withdrawn'
    GROUP BY day, carrier, kind, region, origin_location_id
) AS e
LEFT JOIN
(
    SELECT day, carrier, region, origin_location_id, sum(shipments) AS shipments
    FROM rollup_shipments_daily_current
    GROUP BY day, carrier, region, origin_location_id
) AS s USING (day, carrier, region, origin_location_id)
SETTINGS join_use_nulls = 0;

-- Delivery exceptions open now, with their age: against the wall clock (age_s) and against
-- the pipeline's event-time clock, the latest accepted input event (event_age_s).
CREATE VIEW IF NOT EXISTS kpi_open_exceptions AS
SELECT
    exception_id,
    kind,
    severity,
    carrier,
    region,
    origin_location_id,
    order_id,
    shipment_id,
    tracking_number,
    opened_at,
    dateDiff('second', opened_at, now64(3)) AS age_s,
    dateDiff('second', opened_at, (SELECT max(occurred_at) FROM raw_events)) AS event_age_s
FROM delivery_exceptions FINAL
WHERE resolved_at IS NULL AND state != 'withdrawn';

-- Share of the order lines of the orders placed on a day that were ever backordered.
CREATE VIEW IF NOT EXISTS kpi_backorder_rate AS
SELECT
    day,
    channel,
    sku,
    lines,
    backordered_lines,
    backordered_lines / lines AS backorder_rate
FROM rollup_order_lines_daily_current;

-- Share of the active SKU x location pairs (every pair in the ledger at a location that ships
-- orders) with nothing available now, per location.
CREATE VIEW IF NOT EXISTS kpi_stockout_rate AS
SELECT
    location_id,
    count() AS active_pairs,
    countIf(available <= 0) AS stocked_out_pairs,
    stocked_out_pairs / active_pairs AS stockout_rate
FROM inventory_levels FINAL
WHERE location_id NOT IN (SELECT location_id FROM locations FINAL WHERE NOT ships_orders)
GROUP BY location_id;

-- Stock per SKU and location now, and days of cover: available / the average daily units
-- shipped over the 7 days (UTC) up to the pipeline's event-time clock, as_of (NULL when
-- nothing shipped in those days).
CREATE VIEW IF NOT EXISTS kpi_stock_position AS
WITH (SELECT toDate(max(occurred_at)) FROM raw_events) AS as_of
SELECT
    l.sku AS sku,
    l.location_id AS location_id,
    l.on_hand AS on_hand,
    l.reserved AS reserved,
    l.available AS available,
    s.shipped_units AS shipped_units_7d,
    s.shipped_units / 7 AS avg_daily_shipped_7d,
    if(s.shipped_units > 0, greatest(l.available, 0) / (s.shipped_units / 7), NULL) AS days_of_cover,
    as_of,
    l.updated_at AS updated_at
FROM inventory_levels AS l FINAL
LEFT JOIN
(
    SELECT sku, location_id, -sum(on_hand_delta) AS shipped_units
    FROM rollup_movements_daily_current
    WHERE reason = 'shipped' AND day > as_of - 7 AND day <= as_of
    GROUP BY sku, location_id
) AS s ON s.sku = l.sku AND s.location_id = l.location_id
SETTINGS join_use_nulls = 0;

-- Orders per status now, per channel.
CREATE VIEW IF NOT EXISTS kpi_funnel AS
SELECT channel, status, sum(orders) AS orders
FROM rollup_orders_hourly_current
GROUP BY channel, status;

-- Orders that entered each status in an hour (event time), per channel: on_hold is the
-- orders placed, shipped the orders shipped.
CREATE VIEW IF NOT EXISTS kpi_throughput_hourly AS
SELECT hour, channel, status, sum(transitions) AS orders
FROM rollup_order_flow_hourly_current
WHERE transitions > 0
GROUP BY hour, channel, status;
