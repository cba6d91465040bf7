"""What connects the pipeline to the outside: the ClickHouse sink and the event sources."""
