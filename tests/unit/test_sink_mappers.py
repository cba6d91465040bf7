"""The sink reads exactly the topics streams.topics says it does."""

from connectors.clickhouse.sink import pipeline_mappers
from schemas.serde import AvroSerde
from streams.topics import SINK_SOURCES


def test_every_sink_source_has_a_mapper_and_nothing_else():
    mappers = pipeline_mappers(AvroSerde(), "oms.")
    assert set(mappers) == {spec.name("oms.") for spec in SINK_SOURCES}
