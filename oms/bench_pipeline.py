"""`oms bench pipeline`: input events/s end to end over the simulator's event mix, in one run
on one broker, against two baselines of the same events.

The input is the first N events of a seeded simulation (connectors.sources.simulation),
published unpaced (connectors.sources.replay.publish_events); every run has topics, app id,
sink group and state of its own (oms.bench.isolated). Measured, in this order:

1. raw consume + Avro decode (oms.bench.raw_consume_decode): the Python floor;
2. a naive Faust app (oms.bench_naive): decode, one table write per event, nothing else;
3. the pipeline (worker + sink into chDB) with 1 worker, then with 2: the events are
   published once every worker answers /health/ready (no rebalance under the backlog),
   timed from the first commit until drained (events committed before are not counted);
   a run whose lag stops moving for STALLED_AFTER s is reported as stalled. The worker's
   peak RSS is its VmHWM;
4. changelog recovery, after the 1-worker run: a fresh worker (new web port, so an empty
   datadir) in that run's group, timed from its start to 'Worker ready' in its log (every
   table recovered) and to its commit of one event published before it started (a
   duplicate, so it only reads the recovered seen-table); changelog records are the
   changelog topics' end offsets;
5. event time -> visible in ClickHouse: a fresh 1-worker pipeline gets simulator events at
   a steady half of the 1-worker rate, each re-stamped occurred_at = now as it is handed to
   the producer. Method, chosen as the least invasive correct one: no schema change and no
   polling, since raw_events and dead_letters already have ingested_at DEFAULT now64(3),
   which ClickHouse sets when the sink's insert writes the row (rows are visible from that
   insert; the sink commits offsets after it). Delay = ingested_at - occurred_at per event
   (dead letters: - received_at, the Kafka timestamp, which the publisher sets to
   occurred_at), read from the chDB files after the sink has stopped. Re-stamping may break
   the mix's own event-time order (a pick of an order still in its fraud hold): such events
   are dead-lettered, still a path into ClickHouse, so both kinds count, reported apart.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from confluent_kafka import Producer
from rich.table import Table

from connectors.clickhouse.client import open_client
from connectors.sources.replay import publish_events
from connectors.sources.simulation import Simulation, SimulationConfig
from oms import processes
from oms.bench import (
    Measurement,
    _timed_from_first_commit,
    isolated,
    peak_rss_mib,
    raw_consume_decode,
    time_to_ready,
    wait_caught_up,
)
from oms.bench_naive import NaiveChild
from oms.bench_orders import STALLED_AFTER
from oms.bench_sink import quantile
from oms.kafka_admin import GroupProgress, create_topics
from oms.localkafka import free_port
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.canonical import format_timestamp
from streams.topics import DEAD_LETTERS, INPUT_TOPICS, TABLES, changelog_name

AIM_NAIVE_RATIO, AIM_RATE, AIM_P99 = 2.0, 10_000.0, 2.0


@dataclass
class Delays:
    rate: float  # asked for, events/s
    published: int
    seconds: float  # publishing took
    accepted: list[float]  # seconds, occurred_at -> in raw_events
    dead_lettered: list[float]  # seconds, occurred_at -> in dead_letters

    def quantile(self, q: float) -> float:
        return quantile(self.accepted + self.dead_lettered, q)


@dataclass
class Recovery:
    ready: float  # seconds, start -> 'Worker ready'
    committed: float  # seconds, start -> the probe event committed
    records: dict[str, int]  # table -> changelog records


@dataclass
class PipelineBench:
    raw: Measurement
    naive: Measurement
    one: Measurement
    two: Measurement
    dead_lettered: int  # of the input, in the 1-worker run
    recovery: Recovery
    delays: Delays


def simulated(settings: Settings, count: int, seed: int) -> list[dict]:
    """The first `count` canonical events of the simulated history."""
    config = SimulationConfig(seed=seed, span=timedelta(days=365), fraud_hold=settings.fraud_hold)
    return [event for _, event in itertools.islice(Simulation(config).events(), count)]


def _inputs(settings: Settings) -> list[str]:
    return [spec.name(settings.topic_prefix) for spec in INPUT_TOPICS]


def _publish(settings: Settings, events: Iterable[dict], source: str = "bench") -> int:
    create_topics(settings)
    producer = Producer(settings.producer_config())
    return publish_events(producer, settings.topic_prefix, events, source).published.total()


def end_offsets(settings: Settings, topics: list[str]) -> int:
    """Records written to the topics: their lag for a group that never commits."""
    progress = GroupProgress(settings, f"{settings.app_id}-bench-never-commits")
    try:
        return progress.lag(topics)
    finally:
        progress.close()


def wait_ready(pipeline: LocalPipeline) -> None:
    """Until every worker has its tables recovered and no rebalance under way."""

    def ready() -> bool:
        time.sleep(0.5)  # not a busy loop: the workers share the CPU
        return all(processes.worker_ready(w, timeout=2) for w in pipeline.workers)

    processes.wait_for(ready, pipeline.children, 600, "the workers")


def _own_ports(settings: Settings) -> Settings:
    return settings.model_copy(update={"web_port": free_port(), "sink_metrics_port": free_port()})


def naive_throughput(settings: Settings, count: int) -> Measurement:
    """The naive app over the published events, timed from its first commit until it has
    committed them all."""
    child = NaiveChild(settings).start()
    run = SimpleNamespace(children=[child])
    progress = GroupProgress(settings, settings.app_id)
    topics = _inputs(settings)
    try:
        done, seconds = _timed_from_first_commit(
            progress,
            progress.partitions(topics),
            run,
            lambda: wait_caught_up(progress, run, topics, "the naive baseline", every=0.1),
        )
        rss = peak_rss_mib(child.process.pid)
    finally:
        child.stop()
        progress.close()
    name = "naive baseline: 1 Faust agent, decode + 1 table write per event"
    return Measurement(name, count - done, seconds, rss)


class _Drain:
    """pipeline.drain(), once the workers have caught up (drain polls without a pause, each
    poll ~80 broker requests, CPU the measured processes share), or until their lag has not
    moved for STALLED_AFTER s: then `left` inputs stay uncommitted, `stalled` s were idle."""

    def __init__(self, pipeline: LocalPipeline, progress: GroupProgress) -> None:
        self.pipeline, self.progress = pipeline, progress
        self.left, self.stalled = 0, 0.0

    def __call__(self) -> None:
        last = (-1, time.monotonic())

        def caught_up() -> bool:
            nonlocal last
            time.sleep(0.5)
            lag = self.progress.lag(self.pipeline.input_topics)
            if lag != last[0]:
                last = (lag, time.monotonic())
            elif time.monotonic() - last[1] > STALLED_AFTER:
                self.left = self.progress.lag(_inputs(self.pipeline.settings))
                self.stalled = time.monotonic() - last[1]
                return True
            return lag == 0

        # no deadline of its own: a stall ends it, a slow pipeline may take hours
        processes.wait_for(caught_up, self.pipeline.children, 6 * 3600, "the workers")
        if not self.stalled:
            self.pipeline.drain()

    def label(self) -> str:
        return f" - STALLED: {self.left:,} inputs uncommitted" if self.stalled else ""


def pipeline_throughput(
    settings: Settings, events: list[dict], workers: int
) -> tuple[Measurement, int]:
    """The events through `workers` workers and the sink, until drained; returns the
    measurement (RSS: the first worker's) and how many inputs were dead-lettered. The events
    are published once every worker is ready (unpaced: far faster than the workers take
    them), so no rebalance runs under the backlog."""
    settings = _own_ports(settings)
    with LocalPipeline(settings, timeout=1800, workers=workers) as pipeline:
        wait_ready(pipeline)
        progress = GroupProgress(settings, settings.app_id)
        try:
            count = _publish(settings, events)
            partitions = progress.partitions(_inputs(settings))
            drain = _Drain(pipeline, progress)
            done, seconds = _timed_from_first_commit(progress, partitions, pipeline, drain)
        finally:
            progress.close()
        rss = peak_rss_mib(pipeline.worker.process.pid)
    dead = end_offsets(settings, [DEAD_LETTERS.name(settings.topic_prefix)])
    name = f"pipeline, {workers} worker{'s' if workers > 1 else ''}: worker + sink into chDB"
    events = count - done - drain.left
    return Measurement(name + drain.label(), events, seconds - drain.stalled, rss), dead


def table_recovery(settings: Settings, probe: dict) -> Recovery:
    """A fresh worker with an empty datadir in the group of a finished run (see above)."""
    records = {t: end_offsets(settings, [changelog_name(settings.app_id, t)]) for t in TABLES}
    _publish(settings, [probe], "bench-probe")
    fresh = settings.model_copy(update={"web_port": free_port(), "log_level": "info"})
    worker = processes.worker(fresh, "recovery")
    progress = GroupProgress(settings, settings.app_id)
    topics = _inputs(settings)
    try:
        ready = time_to_ready(worker)
        started = time.perf_counter() - ready
        wait_caught_up(progress, SimpleNamespace(children=[worker]), topics, "a commit", 0.1)
        committed = time.perf_counter() - started
    finally:
        worker.stop()
        progress.close()
    return Recovery(ready, committed, records)


def _steady(events: list[dict], rate: float) -> Iterator[dict]:
    """The events at `rate` per second, each stamped occurred_at = now when it is due."""
    started = time.perf_counter()
    for n, event in enumerate(events):
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        yield {**event, "occurred_at": format_timestamp(datetime.now(UTC))}


def steady_delays(settings: Settings, events: list[dict], rate: float) -> Delays:
    """The events at a steady rate through a fresh 1-worker pipeline; the delays from
    ClickHouse once it has drained and the sink has let go of the chDB files."""
    settings = _own_ports(settings)
    with LocalPipeline(settings, timeout=1800) as pipeline:
        wait_ready(pipeline)
        started = time.perf_counter()
        published = _publish(settings, _steady(events, rate), "bench-latency")
        seconds = time.perf_counter() - started
        progress = GroupProgress(settings, settings.app_id)
        try:
            _Drain(pipeline, progress)()
        finally:
            progress.close()
    inputs = ", ".join(f"'{topic}'" for topic in _inputs(settings))
    client = open_client(settings.resolved_clickhouse_url)
    try:
        rows = client.query(
            "SELECT 'accepted', (toUnixTimestamp64Milli(min(ingested_at)) - "
            "toUnixTimestamp64Milli(min(occurred_at))) / 1000 FROM raw_events GROUP BY event_id "
            "UNION ALL SELECT 'dead', (toUnixTimestamp64Milli(min(ingested_at)) - "
            "toUnixTimestamp64Milli(min(received_at))) / 1000 FROM dead_letters "
            f"WHERE topic IN ({inputs}) GROUP BY topic, partition, offset"
        ).result_rows
    finally:
        client.close()
    accepted = [float(d) for kind, d in rows if kind == "accepted"]
    dead = [float(d) for kind, d in rows if kind == "dead"]
    return Delays(rate, published, seconds, accepted, dead)


def run_bench(
    settings: Settings, count: int, seed: int, latency_seconds: float, phase: Callable[[str], None]
) -> PipelineBench:
    """Every measurement of the module docstring; phase(text) says what runs now."""
    phase(f"simulating {count:,} events")
    events = simulated(settings, count, seed)
    runs = {name: isolated(settings, name) for name in ("naive", "w1", "w2")}
    phase(f"publishing {len(events):,} events to {runs['naive'].topic_prefix}*")
    published = _publish(runs["naive"], events)
    phase("raw consume + decode")
    raw = raw_consume_decode(runs["naive"], published)
    phase("naive baseline: 1 Faust agent, decode + table write")
    naive = naive_throughput(runs["naive"], published)
    phase("pipeline, 1 worker")
    one, dead = pipeline_throughput(runs["w1"], events, 1)
    phase("changelog recovery: a fresh worker with an empty datadir")
    recovery = table_recovery(runs["w1"], events[0])
    phase("pipeline, 2 workers")
    two, _ = pipeline_throughput(runs["w2"], events, 2)
    rate = one.rate / 2
    needed = max(int(rate * latency_seconds), 1)
    if needed > len(events):
        phase(f"simulating {needed:,} events")
        events = simulated(settings, needed, seed)
    phase(f"steady load: {rate:,.0f} events/s for {latency_seconds:g} s, 1 worker")
    delays = steady_delays(isolated(settings, "latency"), events[:needed], rate)
    return PipelineBench(raw, naive, one, two, dead, recovery, delays)


def report(bench: PipelineBench, title: str) -> Table:
    table = Table(title=title)
    for column in ("measurement", "result", "detail"):
        table.add_column(column, justify="right" if column == "result" else "left")
    for m in (bench.raw, bench.naive, bench.one, bench.two):
        table.add_row(
            m.name, f"{m.rate:,.0f} events/s", f"{m.events:,} events in {m.seconds:.2f} s"
        )
    table.add_row(
        "  inputs dead-lettered in the 1-worker run",
        f"{bench.dead_lettered:,}",
        "",
        end_section=True,
    )
    d = bench.delays
    table.add_row(
        f"event time -> visible in ClickHouse at {d.rate:,.0f} events/s (half the 1-worker rate)",
        f"p50 {d.quantile(0.5):.3f} s\np99 {d.quantile(0.99):.3f} s",
        f"{d.published:,} events published in {d.seconds:.1f} s; visible: "
        f"{len(d.accepted):,} in raw_events, {len(d.dead_lettered):,} in dead_letters",
    )
    rss = f"{bench.one.peak_rss_mib:,.0f} MiB" if bench.one.peak_rss_mib else "-"
    table.add_row("worker peak RSS, 1-worker run", rss, "VmHWM", end_section=True)
    r = bench.recovery
    table.add_row(
        "changelog recovery: fresh worker, empty datadir, start -> 'Worker ready'",
        f"{r.ready:.2f} s",
        f"all {len(r.records)} tables: {sum(r.records.values()):,} changelog records",
    )
    table.add_row(
        "  start -> committed again", f"{r.committed:.2f} s", "a duplicate published before"
    )
    for name, records in r.records.items():
        table.add_row(f"  changelog records: {name}", f"{records:,}", "")
    return table


def verdicts(bench: PipelineBench) -> list[str]:
    """The ratios, and each aim met or not."""
    ratio = bench.one.rate / bench.naive.rate
    p99 = bench.delays.quantile(0.99)

    def aim(text: str, met: bool, value: str) -> str:
        return f"aim {text}: {'met' if met else 'NOT met'} ({value})"

    return [
        f"pipeline 1 worker / naive baseline: {ratio:.2f}x; 2 workers / 1 worker: "
        f"{bench.two.rate / bench.one.rate:.2f}x; 1 worker / raw: "
        f"{bench.one.rate / bench.raw.rate:.2%}",
        aim(f">= {AIM_NAIVE_RATIO:g}x naive", ratio >= AIM_NAIVE_RATIO, f"{ratio:.2f}x"),
        aim(
            f">= {AIM_RATE:,.0f} events/s with one worker",
            bench.one.rate >= AIM_RATE,
            f"{bench.one.rate:,.0f}/s",
        ),
        aim(f"p99 < {AIM_P99:g} s", p99 < AIM_P99, f"{p99:.3f} s"),
    ]
