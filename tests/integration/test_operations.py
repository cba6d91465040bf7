"""What on-call sees: metrics and health pages of a worker and a sink that processed a replay,
and a SIGTERM in the middle of a stream that loses nothing."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.sources.synthetic import synthetic_events
from oms import processes
from oms.localkafka import free_port
from oms.pipeline import LocalPipeline
from streams.topics import INPUT_TOPICS

from .helpers import SAMPLES, publish, replay_file
from .test_crash_recovery import EVENTS, assert_exactly_once, wait_for_partial_progress

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(port: int) -> dict[tuple[str, tuple], float]:
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(metrics: dict, name: str, **labels) -> float:
    return sum(
        value
        for (n, lbls), value in metrics.items()
        if n == name and all(dict(lbls).get(k) == v for k, v in labels.items())
    )


def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_metrics_and_health_after_a_replay(settings):
    with LocalPipeline(settings) as pipeline:
        summary = replay_file(settings, SAMPLES / "day.jsonl", pipeline.wait_processed)
        pipeline.drain()

        def worker_caught_up():
            worker = samples(settings.web_port)
            inputs = sum(
                total(worker, "oms_events_processed_total", topic=spec.suffix)
                for spec in INPUT_TOPICS
            )
            assert inputs == summary.published.total()
            assert total(worker, "oms_events_processed_total", type="OrderPlaced") == 15
            assert total(worker, "oms_events_dead_lettered_total") == 0
            lags = [v for (n, _), v in worker.items() if n == "oms_consumer_lag"]
            assert lags and all(v == 0 for v in lags)
            assert total(worker, "oms_worker_ready") == 1
            assert total(worker, "oms_event_delay_seconds_count") == summary.published.total()
            return worker

        eventually(worker_caught_up)
        assert get(f"http://127.0.0.1:{settings.web_port}/health/ready")[0] == 200
        assert get(f"http://127.0.0.1:{settings.web_port}/health/live")[0] == 200

        sink = samples(settings.sink_metrics_port)
        assert total(sink, "oms_sink_rows_total", table="raw_events") == 88
        assert total(sink, "oms_sink_batches_total") >= 1
        assert total(sink, "oms_sink_failures_total") == 0
        assert total(sink, "oms_sink_last_success_timestamp_seconds") > time.time() - 300
        assert get(f"http://127.0.0.1:{settings.sink_metrics_port}/health/ready")[0] == 200


def test_sigterm_mid_stream_loses_and_doubles_nothing(settings):
    settings.commit_interval = 1.0
    publish(settings, synthetic_events(EVENTS, seed=13))
    with LocalPipeline(settings) as pipeline:
        wait_for_partial_progress(settings, settings.app_id, pipeline.input_topics)
        assert pipeline.worker.stop() == 0
        pipeline.worker = processes.worker(settings, "worker-after-sigterm").start()
        pipeline.drain()
        assert pipeline.sink.stop() == 0
    assert_exactly_once(settings)


def test_a_worker_started_while_no_broker_answers_waits_for_one(settings):
    """Faust alone exits at once ("Unable to bootstrap"); a worker restarted during a broker
    restart did, under oms chaos."""
    nowhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    worker = processes.worker(nowhere).start()
    try:
        time.sleep(8)
        assert worker.alive()
        assert "no Kafka broker answers yet" in worker.log_path.read_text()
    finally:
        worker.kill()
