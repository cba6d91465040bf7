"""ClickHouse: the client factory, the DDL migrations and the exactly-once sink."""
