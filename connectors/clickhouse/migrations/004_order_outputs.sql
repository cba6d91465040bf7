-- 004: columns the order outputs carry beyond 001/002 (the sink writes them from
-- oms.order-status and oms.delivery-exceptions). Only added, never changed or dropped:
-- rows written before this migration read the defaults.

-- order_events now come only from OrderUpdate: the status before the change ('' for a new
-- order) and the order's version after it, so stage dwell times need no window function.
ALTER TABLE order_events
    ADD COLUMN IF NOT EXISTS previous_status LowCardinality(String) DEFAULT '' AFTER status,
    ADD COLUMN IF NOT EXISTS version UInt64 DEFAULT 0 AFTER source;

-- "opened" or "resolved" (resolved_at is set exactly when resolved).
ALTER TABLE delivery_exceptions
    ADD COLUMN IF NOT EXISTS state LowCardinality(String) DEFAULT '' AFTER kind;
