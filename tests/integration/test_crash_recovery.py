"""SIGKILL of the worker or of the sink in the middle of a stream: every event ends up in
ClickHouse exactly once (FINAL counts), nothing lost, nothing doubled."""

from __future__ import annotations

import time

import pytest

from connectors.sources.synthetic import synthetic_events
from oms import processes
from oms.kafka_admin import GroupProgress
from oms.pipeline import LocalPipeline

from .helpers import publish, scalar

pytestmark = pytest.mark.integration

EVENTS = 6000


def wait_for_partial_progress(settings, group: str, topics: list[str]) -> int:
    """Waits until the group has committed part of its input, not all of it."""
    progress = GroupProgress(settings, group)
    try:
        partitions = progress.partitions(topics)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(progress.committed(partitions).values())
            if done > 0:
                assert done < EVENTS, "the stream finished before the crash could happen"
                return done
            time.sleep(0.02)
    finally:
        progress.close()
    raise TimeoutError("no progress")


def assert_exactly_once(settings) -> None:
    assert scalar(settings, "SELECT count() FROM raw_events FINAL") == EVENTS
    assert scalar(settings, "SELECT uniqExact(event_id) FROM raw_events") == EVENTS
    placed = "SELECT count() FROM order_events FINAL WHERE type = 'OrderPlaced'"
    assert scalar(settings, placed) == EVENTS // 2
    # every hold the clock passed ended exactly once, none twice, none missed
    allocated = "SELECT count() FROM order_events FINAL WHERE type = 'Allocated'"
    released = "SELECT count() FROM orders FINAL WHERE allocated_at IS NOT NULL"
    assert scalar(settings, allocated) == scalar(settings, released) > 0
    stuck = (
        "SELECT count() FROM orders FINAL WHERE status = 'on_hold' AND hold_until <="
        " (SELECT max(occurred_at) FROM raw_events) - INTERVAL 1 MINUTE"
    )
    assert scalar(settings, stuck) == 0
    assert scalar(settings, "SELECT count() FROM carrier_scans FINAL") == EVENTS // 2
    assert scalar(settings, "SELECT count() FROM dead_letters FINAL") == 0


def test_worker_killed_mid_stream_loses_and_doubles_nothing(settings):
    # Commits a second apart leave processed-but-uncommitted events at the kill: the
    # window in which outputs and the seen-table may be written while offsets are not.
    settings.commit_interval = 1.0
    publish(settings, synthetic_events(EVENTS, seed=11))
    with LocalPipeline(settings) as pipeline:
        wait_for_partial_progress(settings, settings.app_id, pipeline.input_topics)
        pipeline.worker.kill()
        pipeline.worker = processes.worker(settings, "worker-restarted").start()
        pipeline.drain()
    assert_exactly_once(settings)


def test_sink_killed_mid_stream_loses_and_doubles_nothing(settings):
    settings.sink_batch_size = 500
    publish(settings, synthetic_events(EVENTS, seed=12))
    with LocalPipeline(settings) as pipeline:
        wait_for_partial_progress(settings, settings.sink_group_id, pipeline.output_topics)
        pipeline.sink.kill()
        pipeline.sink = processes.sink(settings, "sink-restarted").start()
        pipeline.drain()
    assert_exactly_once(settings)
