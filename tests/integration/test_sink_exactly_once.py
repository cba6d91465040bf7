"""The ClickHouse sink, crashed at every point of a batch or cut off from ClickHouse, ends
with exactly what a clean run has: every table's FINAL rows and every KPI rollup and view.

A real pipeline (worker + sink, LocalPipeline) replays a scenario file once; its ClickHouse is
the clean run. Then sinks of their own (own consumer group, own chDB) read the same output
topics in small batches, in a child process that dies (os._exit, no cleanup, nothing
flushed) at a chosen point of a chosen batch: before its inserts, between two tables'
inserts, after the inserts and before the rollup refresh, between two rollups' refreshes, or
after the refresh and before the offset commit. A fresh sink, with another batch size (so
its batches are formed differently and deduplication tokens do not match), resumes. A third
kind of run has ClickHouse fail every call for a while, in the middle of a batch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.clickhouse import rollups
from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.sink import ClickHouseSink, pipeline_mappers
from oms.kafka_admin import GroupProgress
from oms.localkafka import free_port
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde

from .helpers import FIXTURES, replay_file

pytestmark = pytest.mark.integration

CRASHED = 87  # the exit status of an injected crash
SCENARIOS = {
    "orders": FIXTURES / "orders_multi_warehouse.jsonl",
    "tracking": FIXTURES / "tracking_parcels.jsonl",
}
CRASH_POINTS = ("before_insert", "mid_insert", "before_refresh", "mid_refresh", "before_commit")
NOT_COMPARED = {"ingested_at"}  # when a row was written: differs from run to run


# --- sinks in child processes ----------------------------------------------------------------
class CrashingSink(ClickHouseSink):
    """Dies at `point` of the first batch, from the `batch`-th on, where the point exists
    (a second table to insert, a second rollup to refresh)."""

    def __init__(self, *args, point: str, batch: int, **kwargs) -> None:
        super().__init__(*args, refresh_rollups=self._refresh, **kwargs)
        self.point, self.crash_batch = point, batch
        self.batches = self.inserted = self.tables = 0

    def _armed(self, point: str) -> bool:
        return self.point == point and self.batches >= self.crash_batch

    def _write(self, batch) -> bool:
        self.batches += 1
        self.inserted, self.tables = 0, len(batch.rows)
        if self._armed("before_insert"):
            os._exit(CRASHED)
        written = super()._write(batch)
        if self._armed("before_commit"):
            os._exit(CRASHED)
        return written

    def _insert(self, table, table_rows, token) -> None:
        super()._insert(table, table_rows, token)
        self.inserted += 1
        if self._armed("mid_insert") and self.inserted == 1 and self.tables > 1:
            os._exit(CRASHED)

    def _refresh(self, client, rows) -> None:
        if self._armed("before_refresh"):
            os._exit(CRASHED)
        refreshed = 0
        for rollup in rollups.ROLLUPS:
            buckets = rollup.touched(rows, client)
            if buckets:
                rollup.refresh(client, buckets)
                refreshed += 1
                if self._armed("mid_refresh") and refreshed == 2:
                    os._exit(CRASHED)


class LostCoordinatorSink(ClickHouseSink):
    """Its first consumer loses its group coordinator for good (what librdkafka does with a
    coordinator it lost track of) at its `at`-th commit: the commit never returns, or from
    then on it reports no member id; its later consumers are plain."""

    def __init__(self, *args, at: int, way: str, **kwargs) -> None:
        self.at, self.way, self.consumers = at, way, 0
        super().__init__(*args, commit_hang_after=2.0, rejoin_within=2.0, **kwargs)

    def _new_consumer(self):
        self.consumers += 1
        consumer = super()._new_consumer()
        return LostCoordinator(consumer, self.at, self.way) if self.consumers == 1 else consumer


class LostCoordinator:
    """A real consumer, wedged from its n-th commit on (fault injection, like FlakyClient)."""

    def __init__(self, consumer, n: int, way: str) -> None:
        self.consumer, self.n, self.way, self.commits = consumer, n, way, 0

    def __getattr__(self, name):
        return getattr(self.consumer, name)

    def commit(self, *args, **kwargs):
        self.commits += 1
        if self.commits == self.n and self.way == "commit hangs":
            threading.Event().wait()
        return self.consumer.commit(*args, **kwargs)

    def _out(self) -> bool:
        return self.commits >= self.n and self.way == "out of the group"

    def memberid(self):
        return None if self._out() else self.consumer.memberid()

    def consume(self, num_messages, timeout):
        if self._out():  # no partitions, so nothing
            time.sleep(timeout)
            return []
        return self.consumer.consume(num_messages, timeout=timeout)


class FlakyClient:
    """A client whose every call fails for `seconds` from its `fail_from`-th insert on."""

    def __init__(self, client, fail_from: int, seconds: float) -> None:
        self.client, self.fail_from, self.seconds = client, fail_from, seconds
        self.inserts, self.down_until, self.failures = 0, 0.0, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def _call(self, method, *args, **kwargs):
        if time.monotonic() < self.down_until:
            self.failures += 1
            raise ConnectionError("ClickHouse unavailable (injected)")
        return getattr(self.client, method)(*args, **kwargs)

    def insert(self, *args, **kwargs):
        self.inserts += 1
        if self.inserts == self.fail_from:
            self.down_until = time.monotonic() + self.seconds
        return self._call("insert", *args, **kwargs)

    def command(self, *args, **kwargs):
        return self._call("command", *args, **kwargs)

    def query(self, *args, **kwargs):
        return self._call("query", *args, **kwargs)


def run_sink(job: dict) -> None:
    """A child process: one sink until SIGTERM (or its injected crash)."""
    client = open_client(job["url"])
    migrate(client)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    mappers = pipeline_mappers(AvroSerde(), job["prefix"])
    options = {"batch_size": job["batch_size"], "flush_interval": 0.2, "max_backoff": 0.5}
    writer = client
    if job.get("crash"):
        sink = CrashingSink(client, job["consumer"], mappers, **options, **job["crash"])
    elif job.get("wedge"):
        sink = LostCoordinatorSink(client, job["consumer"], mappers, **options, **job["wedge"])
    else:
        if job.get("outage"):
            writer = FlakyClient(client, **job["outage"])
        sink = ClickHouseSink(writer, job["consumer"], mappers, **options)
    sink.run(stopping.is_set)
    stats = {"failures": getattr(writer, "failures", 0), "consumers": getattr(sink, "consumers", 1)}
    Path(job["stats"]).write_text(json.dumps(stats))
    client.close()


@dataclass
class Run:
    settings: Settings
    topics: list[str]
    clean: dict[str, list[tuple]]


def sink_job(run: Run, tmp_path: Path, name: str, batch_size: int, **extra) -> dict:
    group = f"{run.settings.sink_group_id}-{name}-{uuid.uuid4().hex[:6]}"
    return {
        "url": f"chdb://{tmp_path / name / 'clickhouse'}",
        "prefix": run.settings.topic_prefix,
        "consumer": {
            **run.settings.kafka_client_config(),
            "group.id": group,
            "session.timeout.ms": 6000,
        },
        "batch_size": batch_size,
        "stats": str(tmp_path / f"{name}-stats.json"),
        **extra,
    }


def start(job: dict) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=run_sink, args=(job,))
    process.start()
    return process


def run_until_caught_up(run: Run, job: dict, timeout: float = 180) -> dict:
    """Starts a sink, waits until its group has committed every output message, stops it."""
    process = start(job)
    progress = GroupProgress(run.settings, job["consumer"]["group.id"])
    try:
        deadline = time.monotonic() + timeout
        while progress.lag(run.topics):
            assert process.is_alive(), f"the sink died with status {process.exitcode}"
            assert time.monotonic() < deadline, "the sink did not catch up"
            time.sleep(0.2)
    finally:
        progress.close()
        process.terminate()  # SIGTERM: finishes the batch in hand, then stops
        process.join(60)
    assert process.exitcode == 0
    return json.loads(Path(job["stats"]).read_text())


def committed(run: Run, group: str) -> int:
    progress = GroupProgress(run.settings, group)
    try:
        return sum(progress.committed(progress.partitions(run.topics)).values())
    finally:
        progress.close()


# --- what a ClickHouse holds ---------------------------------------------------------------
def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table's FINAL rows, every rollup's current rows and every kpi_* view."""
    client = open_client(url)
    try:
        return _snapshot(client)
    finally:
        client.close()


def _snapshot(client) -> dict[str, list[tuple]]:
    tables = client.query(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
        " AND name != 'schema_migrations' ORDER BY name"
    ).result_rows
    found = {}
    for name, engine in tables:
        if name.startswith("rollup_") and engine == "View":
            sql = f"SELECT * FROM {name}"
            if name == "rollup_order_durations_daily_current":
                sql = f"SELECT * EXCEPT (seconds), finalizeAggregation(seconds) FROM {name}"
        elif name.startswith("kpi_"):
            sql = (
                f"SELECT * EXCEPT (age_s) FROM {name}"
                if name == "kpi_open_exceptions"
                else (f"SELECT * FROM {name}")
            )
        elif engine.endswith("MergeTree") and not name.startswith("rollup_"):
            columns = [
                c
                for (c,) in client.query(
                    "SELECT name FROM system.columns WHERE database = currentDatabase()"
                    " AND table = %(t)s ORDER BY position",
                    parameters={"t": name},
                ).result_rows
                if c not in NOT_COMPARED
            ]
            sql = f"SELECT {', '.join(columns)} FROM {name} FINAL"
        else:
            continue
        found[name] = sorted(
            (tuple(map(_plain, row)) for row in client.query(sql).result_rows), key=repr
        )
    return found


def _plain(value):
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, float):
        return "nan" if value != value else round(value, 6)
    return value


def counts(found: dict[str, list[tuple]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in found.items()}


def assert_same_as_clean_run(run: Run, url: str) -> None:
    found = snapshot(url)
    assert counts(found) == counts(run.clean)  # every table's FINAL count, every rollup row
    for name in run.clean:
        assert found[name] == run.clean[name], name


# --- the clean run -------------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def clean_run(request, kafka_bootstrap, tmp_path_factory) -> Run:
    n = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"eo-{n}.",
        topic_partitions=2,
        app_id=f"oms-eo-{n}",
        sink_group_id=f"oms-eo-sink-{n}",
        state_dir=tmp_path_factory.mktemp(f"clean-{request.param}") / "state",
        web_port=free_port(),
        sink_metrics_port=free_port(),
        commit_interval=0.05,
        session_timeout=6,
        sink_flush_interval=0.2,
        log_level="info",
    )
    with LocalPipeline(settings) as pipeline:
        replay_file(settings, SCENARIOS[request.param], pipeline.wait_processed)
        pipeline.drain()
        topics = pipeline.output_topics
    clean = snapshot(settings.resolved_clickhouse_url)
    client = open_client(settings.resolved_clickhouse_url)
    try:  # the rollups the sink kept up to date as the pipeline ran are the from-scratch ones
        rollups.backfill(client, everything=True)
        assert _snapshot(client) == clean
    finally:
        client.close()
    assert clean["kpi_funnel"] and clean["kpi_order_to_ship"] and clean["kpi_stock_position"]
    return Run(settings, topics, clean)


# --- the tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_sink_crashed_anywhere_in_a_batch_resumes_exactly(clean_run, tmp_path, point):
    crash = sink_job(
        clean_run, tmp_path, "crashing", batch_size=7, crash={"point": point, "batch": 3}
    )
    process = start(crash)
    process.join(180)
    assert process.exitcode == CRASHED, f"never reached {point} (status {process.exitcode})"
    done = committed(clean_run, crash["consumer"]["group.id"])
    assert done > 0, "crashed before any batch was committed"

    resumed = {**crash, "batch_size": 5, "crash": None}  # same group, same ClickHouse
    run_until_caught_up(clean_run, resumed)
    assert_same_as_clean_run(clean_run, crash["url"])


def test_clickhouse_down_for_a_while_loses_and_doubles_nothing(clean_run, tmp_path):
    # down from the 12th insert (a few batches in, part-way through a batch's tables) for 3 s:
    # every insert, refresh and lookup fails and is retried with backoff, the consumer paused
    job = sink_job(
        clean_run, tmp_path, "flaky", batch_size=6, outage={"fail_from": 12, "seconds": 3}
    )
    stats = run_until_caught_up(clean_run, job)
    assert stats["failures"] >= 3
    assert_same_as_clean_run(clean_run, job["url"])


@pytest.mark.parametrize("way", ["commit hangs", "out of the group"])
def test_a_consumer_that_lost_its_coordinator_is_replaced_losing_and_doubling_nothing(
    clean_run, tmp_path, way
):
    # from the 3rd commit on: after 2 s the sink leaves that consumer behind (closing it)
    # and a new one in the same group reads what was not committed again
    job = sink_job(clean_run, tmp_path, "wedged", batch_size=6, wedge={"at": 3, "way": way})
    stats = run_until_caught_up(clean_run, job)
    assert stats["consumers"] == 2
    assert_same_as_clean_run(clean_run, job["url"])
