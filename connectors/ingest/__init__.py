"""`oms ingest`: webhooks (Shopify, WooCommerce, EasyPost, AfterShip) and canonical JSON in,
signature-checked, mapped onto the canonical events of events.md, published to Kafka."""
