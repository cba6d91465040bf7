"""`oms run --events FILE`: replay a file of canonical events through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.clickhouse.client import open_settings_client
from connectors.sources.pacing import Pacer
from connectors.sources.replay import Replayer, ReplaySummary, read_lines
from oms.localkafka import kafka_for
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde


def run_file(settings: Settings, events: Path, console: Console) -> ReplaySummary:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with kafka_for(settings), LocalPipeline(settings) as pipeline:
        return replay_through(pipeline, events, console)


def replay_through(pipeline: LocalPipeline, events: Path, console: Console) -> ReplaySummary:
    """Replays the file in order (paced by what the workers have processed) and drains."""
    settings = pipeline.settings
    total = sum(1 for _ in read_lines(events))
    producer = Producer(settings.producer_config())
    replayer = Replayer(
        producer, AvroSerde(), settings.topic_prefix, pipeline.wait_processed, pacer_for(settings)
    )
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("events", total=total)
        try:
            summary = replayer.replay(events, on_line=lambda: progress.advance(task))
        except BaseException:
            # undelivered records would hold the process at exit for the delivery timeout
            producer.purge()
            raise
    with console.status("waiting until every event is processed and in ClickHouse"):
        pipeline.drain()
    return summary


def pacer_for(settings: Settings) -> Pacer:
    return Pacer(settings.clock_tick, settings.fraud_hold)


def summary_table(settings: Settings, summary: ReplaySummary) -> Table:
    client = open_settings_client(settings)
    try:
        stored = dict(
            client.query("SELECT type, count() FROM raw_events FINAL GROUP BY type").result_rows
        )
        dead = dict(
            client.query(
                "SELECT ifNull(event_type, '(undecodable)'), count() FROM dead_letters FINAL "
                "GROUP BY 1"
            ).result_rows
        )
    finally:
        client.close()
    table = Table(title="replay summary")
    for column in (
        "event type",
        "read",
        "published",
        "rejected by replay",
        "stored (all runs)",
        "dead letters (all runs)",
    ):
        table.add_column(column, justify="left" if column == "event type" else "right")
    types = sorted(set(summary.read) | set(stored) | set(dead))
    for name in types:
        table.add_row(
            name,
            str(summary.read[name]),
            str(summary.published[name]),
            str(summary.rejected[name]),
            str(stored.get(name, 0)),
            str(dead.get(name, 0)),
        )
    table.add_row(
        "total",
        str(summary.read.total()),
        str(summary.published.total()),
        str(summary.rejected.total()),
        str(sum(stored.values())),
        str(sum(dead.values())),
        style="bold",
    )
    return table
