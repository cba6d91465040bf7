"""The event contract: one Avro schema per event type (avro/<Type>/vN.avsc), the catalog that
loads them, the Confluent wire-format serde and the canonical JSON converters."""
