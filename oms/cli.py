"""The `oms` command line. Options override the OMS_* environment variables of oms.settings."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from oms.settings import Settings

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics of the pipeline.")
kafka_app = typer.Typer(no_args_is_help=True, help="The local Apache Kafka broker.")
inventory_app = typer.Typer(no_args_is_help=True, help="Stock ledger tools.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: numbers, not tests.")
app.add_typer(topics_app, name="topics")
app.add_typer(kafka_app, name="kafka")
app.add_typer(inventory_app, name="inventory")
app.add_typer(bench_app, name="bench")
console = Console()

StateDir = Annotated[Path | None, typer.Option(help="where local state lives [env OMS_STATE_DIR]")]
Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", help="Kafka to use [env OMS_KAFKA_BOOTSTRAP_SERVERS]"),
]
ClickHouseUrl = Annotated[
    str | None,
    typer.Option("--clickhouse", help="chdb:///path or http(s)://... [env OMS_CLICKHOUSE_URL]"),
]


_PYTHON_LOG_LEVELS = {"warn": "WARNING", "crit": "CRITICAL"}  # Faust's names -> logging's


# A paced replay waits for each step's consequences (connectors/sources/pacing.py), so its
# pace is the worker's latency: frequent commits, records sent as soon as they are made.
PACED_REPLAY = {"commit_interval": 0.01, "producer_linger_ms": 0}


def load_settings(**overrides) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=_PYTHON_LOG_LEVELS.get(settings.log_level, settings.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


@app.command()
def run(
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="canonical JSONL")],
    clickhouse: ClickHouseUrl = None,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Replay a file of canonical events through broker, worker and sink; print a summary."""
    from oms.runner import run_file, summary_table

    settings = load_settings(
        clickhouse_url=clickhouse,
        state_dir=state_dir,
        kafka_bootstrap_servers=bootstrap_servers,
        **PACED_REPLAY,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop children, broker
    summary = run_file(settings, events, console)
    console.print(summary_table(settings, summary))


@app.command()
def chaos(
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="canonical JSONL")],
    workers: Annotated[int, typer.Option(min=2)] = 3,
    partitions: Annotated[int, typer.Option(min=2, help="of every topic")] = 6,
    kill_every: Annotated[str, typer.Option(help="seconds between SIGKILLs: MIN-MAX")] = "10-20",
    empty_disk_every: Annotated[
        int,
        typer.Option(
            min=0, help="every n-th replacement starts on an empty disk (others: on their own)"
        ),
    ] = 0,
    broker_restart_after: Annotated[
        float, typer.Option(help="seconds into the replay the broker is restarted")
    ] = 30.0,
    seed: Annotated[int, typer.Option(help="which workers die, and when")] = 1,
    session_timeout: Annotated[
        float, typer.Option(min=1, help="seconds until the group notices a killed worker")
    ] = 3.0,
    state_dir: StateDir = None,
) -> None:
    """Replay a file through several workers while killing them and restarting the broker;
    compare ClickHouse with a one-worker reference run (kept in the state directory)."""
    from oms.chaos import ChaosPlan, report, run_chaos

    low, _, high = kill_every.partition("-")
    plan = ChaosPlan(
        workers=workers,
        partitions=partitions,
        kill_every=(float(low), float(high or low)),
        broker_restart_after=broker_restart_after,
        seed=seed,
        empty_disk_every=empty_disk_every,
        session_timeout=session_timeout,
    )
    settings = load_settings(state_dir=state_dir, **PACED_REPLAY)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run_chaos(settings, events, plan, console)
    console.print(report(result))
    if not result.reconciled:
        console.print(result.reconcile_output)
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def demo(
    duration: Annotated[
        float | None,
        typer.Option(min=1, help="stop after this many seconds (wall clock); default: Ctrl-C"),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="event-time seconds per wall-clock second")
    ] = 120.0,
    seed: Annotated[
        int | None,
        typer.Option(help="simulator seed; default 1 on a fresh pipeline, else a new one"),
    ] = None,
    orders_per_minute: Annotated[
        float, typer.Option(min=0.001, help="order rate, in event time")
    ] = 3.0,
    clickhouse: ClickHouseUrl = None,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Simulated traffic in real time through broker, worker and sink, with the KPI dashboard
    at http://127.0.0.1:<web port>/dashboard; Ctrl-C stops everything and prints a summary."""
    from oms.demo import run_demo

    settings = load_settings(
        clickhouse_url=clickhouse, state_dir=state_dir, kafka_bootstrap_servers=bootstrap_servers
    )
    code = run_demo(settings, console, duration, speed, seed, orders_per_minute)
    raise typer.Exit(code)


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="the same seed gives the same events, ids too")] = 1,
    orders_per_minute: Annotated[
        float, typer.Option(min=0.001, help="order rate, in event time")
    ] = 5.0,
    duration: Annotated[
        str,
        typer.Option(help="event time orders are placed in (2h, 90m, 1d12h) or a number of orders"),
    ] = "2h",
    start: Annotated[
        str,
        typer.Option(help='event time of the first order: ISO 8601 (UTC unless given) or "now"'),
    ] = "2026-11-02T00:00:00Z",
    skus: Annotated[int, typer.Option(min=1, help="catalog size")] = 300,
    finish: Annotated[
        bool,
        typer.Option(help="follow each order to its journey's end, or stop when --duration ends"),
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="write canonical JSONL here instead of publishing"),
    ] = None,
    realtime: Annotated[
        bool, typer.Option(help="publish as event time advances with wall time x --speed")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=0.001, help="with --realtime: event-time seconds per second")
    ] = 1.0,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Generate realistic order, stock and carrier traffic: JSONL (--out) or Kafka."""
    import time
    from collections import Counter

    from rich.table import Table

    from connectors.sources.simulation import (
        Simulation,
        SimulationConfig,
        paced,
        parse_duration,
        parse_start,
        write_jsonl,
    )

    if out and realtime:
        raise typer.BadParameter("--realtime paces publishing to Kafka, not --out")
    settings = load_settings(kafka_bootstrap_servers=bootstrap_servers)
    try:
        span, orders = parse_duration(duration)
        config = SimulationConfig(
            seed=seed,
            orders_per_minute=orders_per_minute,
            span=span,
            orders=orders,
            start=parse_start(start),
            fraud_hold=settings.fraud_hold,
            skus=skus,
            finish=finish,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    simulation = Simulation(config)
    seen: list[str] = []  # the earliest and latest occurred_at

    def watched(timed):
        for arrival, event in timed:
            occurred = event["occurred_at"]
            if not seen:
                seen[:] = [occurred, occurred]
            seen[:] = [min(seen[0], occurred), max(seen[1], occurred)]
            yield arrival, event

    stream = watched(simulation.events())
    began = time.perf_counter()
    summary = None
    if out:
        with console.status(f"writing {out}"):
            write_jsonl((event for _, event in stream), out)
    else:
        from confluent_kafka import Producer

        from connectors.sources.replay import publish_events

        events = paced(stream, speed, simulation.t0) if realtime else (event for _, event in stream)
        try:
            producer = Producer(settings.producer_config())
            with console.status(f"publishing to {settings.topic_prefix}* (Ctrl-C stops)"):
                summary = publish_events(producer, settings.topic_prefix, events, "simulate")
        except RuntimeError as exc:  # no Kafka configured, topics missing, delivery failed
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            producer.flush(10)
    seconds = time.perf_counter() - began
    stats = simulation.stats
    types = sorted(name for name in stats if name[0].isupper())
    columns = [Counter({name: stats[name] for name in types})]
    if summary:
        columns += [summary.published, summary.rejected]
    table = Table(title=f"oms simulate --seed {seed}")
    for column in ("event type", "events", "published", "rejected")[: len(columns) + 1]:
        table.add_column(column, justify="left" if column == "event type" else "right")
    for name in types:
        table.add_row(name, *(f"{c[name]:,}" for c in columns))
    table.add_row("total", *(f"{c.total():,}" for c in columns), style="bold")
    console.print(table)
    total = sum(stats[name] for name in types)
    if out:
        console.print(f"wrote {out}")
    if seen:
        console.print(f"event time {seen[0]} .. {seen[1]}")
    cancelled = sum(n for name, n in stats.items() if name.startswith("cancelled_"))
    console.print(
        f"{stats['orders']:,} orders: {cancelled:,} cancelled, "
        f"{stats['orders_backordered']:,} backordered, {stats['orders_split']:,} split; "
        f"{stats['parcels']:,} parcels: {stats['parcels_delivered']:,} delivered, "
        f"{stats['parcels_returned']:,} returned, {stats['parcels_stalled']:,} stalled, "
        f"{stats['parcels_lost'] + stats['parcels_quiet']:,} lost; "
        f"{stats['scans_late']:,} scans late"
    )
    console.print(f"{total:,} events in {seconds:.2f} s ({total / max(seconds, 1e-9):,.0f}/s)")


@app.command()
def worker(
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
    web_port: Annotated[int | None, typer.Option(help="[env OMS_WEB_PORT]")] = None,
) -> None:
    """Run a Faust worker against the configured Kafka."""
    import faust

    from oms.kafka_admin import wait_for_cluster
    from streams.app import create_app

    settings = load_settings(
        state_dir=state_dir, kafka_bootstrap_servers=bootstrap_servers, web_port=web_port
    )
    wait_for_cluster(settings, timeout=300)
    faust_app = create_app(settings)
    faust_worker = faust.Worker(faust_app, loglevel=settings.log_level)
    # Faust's start-up spinner sets the root logger to DEBUG for itself at any log level,
    # and the debug records built and thrown away were 5-8% of a busy worker's time
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()


@app.command()
def sink(
    clickhouse: ClickHouseUrl = None,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Run the ClickHouse sink: output topics -> ClickHouse tables, exactly once."""
    from connectors.clickhouse.client import describe, open_settings_client
    from connectors.clickhouse.migrations import migrate
    from connectors.clickhouse.sink import ClickHouseSink, pipeline_mappers
    from connectors.clickhouse.status import serve_status
    from schemas.serde import make_serde

    settings = load_settings(
        clickhouse_url=clickhouse, state_dir=state_dir, kafka_bootstrap_servers=bootstrap_servers
    )
    url = settings.resolved_clickhouse_url
    client = open_settings_client(settings)
    migrate(client)
    logging.getLogger("oms.sink").warning(
        "ClickHouse %s at %s", client.server_version, describe(url)
    )
    sink_ = ClickHouseSink(
        client,
        {
            **settings.kafka_client_config(),
            "group.id": settings.sink_group_id,
            "session.timeout.ms": int(settings.session_timeout * 1000),
        },
        pipeline_mappers(make_serde(settings.schema_registry_url), settings.topic_prefix),
        batch_size=settings.sink_batch_size,
        flush_interval=settings.sink_flush_interval,
    )
    serve_status(
        settings.web_host,
        settings.sink_metrics_port,
        lambda: sink_.healthy,
        lambda: open_settings_client(settings),
    )
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    sink_.run(stopping.is_set)
    client.close()


@app.command()
def mailer(
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
    smtp_host: Annotated[str | None, typer.Option(help="SMTP server [env OMS_SMTP_HOST]")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port [env OMS_SMTP_PORT]")] = None,
    mail_from: Annotated[str | None, typer.Option(help="sender [env OMS_MAIL_FROM]")] = None,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            exists=True,
            file_okay=False,
            help="a directory of <kind>.txt mail templates [env OMS_MAIL_TEMPLATES_DIR]",
        ),
    ] = None,
    metrics_port: Annotated[
        int, typer.Option(help="serve /metrics and /health here; 0: do not")
    ] = 9109,
) -> None:
    """Run the mailer: notifications -> customer emails by SMTP, at most once each."""
    from connectors.clickhouse.status import serve_status
    from connectors.mailer.mailer import build_mailer

    settings = load_settings(
        state_dir=state_dir,
        kafka_bootstrap_servers=bootstrap_servers,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        mail_from=mail_from,
        mail_templates_dir=templates,
    )
    mailer_ = build_mailer(settings)
    logging.getLogger("oms.mailer").warning(
        "mailing %s via %s:%d", mailer_.topic, settings.smtp_host, settings.smtp_port
    )
    if metrics_port:
        serve_status(settings.web_host, metrics_port, lambda: mailer_.healthy)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    mailer_.run(stopping.is_set)


@app.command()
def ingest(
    host: Annotated[str | None, typer.Option(help="listen address [env OMS_INGEST_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="listen port [env OMS_INGEST_PORT]")] = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Run the ingest web service: Shopify, WooCommerce, EasyPost and AfterShip webhooks and
    canonical JSON (POST /events) -> signature checked, mapped, published; /metrics too."""
    from connectors.ingest.app import serve

    settings = load_settings(
        ingest_host=host, ingest_port=port, kafka_bootstrap_servers=bootstrap_servers
    )
    settings.require_bootstrap()
    serve(settings)


@app.command()
def migrate(clickhouse: ClickHouseUrl = None, state_dir: StateDir = None) -> None:
    """Apply the ClickHouse DDL migrations not yet applied."""
    from connectors.clickhouse.client import open_settings_client
    from connectors.clickhouse.migrations import migrate as apply

    settings = load_settings(clickhouse_url=clickhouse, state_dir=state_dir)
    client = open_settings_client(settings)
    for name in apply(client) or ["(nothing to apply)"]:
        console.print(name)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="a SELECT")],
    clickhouse: ClickHouseUrl = None,
    state_dir: StateDir = None,
) -> None:
    """Run a query on the pipeline's ClickHouse and print the rows (tab-separated)."""
    from connectors.clickhouse.client import open_settings_client

    settings = load_settings(clickhouse_url=clickhouse, state_dir=state_dir)
    result = open_settings_client(settings).query(query)
    for row in result.result_rows:
        print("\t".join(str(v) for v in row))


def _bench_settings(state_dir: Path | None, bootstrap_servers: str | None) -> Settings:
    import time

    run_id = f"bench-{int(time.time())}"
    return load_settings(
        state_dir=state_dir or Path(".oms-state") / run_id,
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=f"{run_id}.",
        app_id=run_id,
        sink_group_id=f"{run_id}-sink",
    )


def _print_measurements(title: str, measurements) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("measurement", "count", "seconds", "per second", "worker peak RSS MiB"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for m in measurements:
        rss = f"{m.peak_rss_mib:.0f}" if m.peak_rss_mib else "-"
        table.add_row(m.name, f"{m.events:,}", f"{m.seconds:.2f}", f"{m.rate:,.0f}", rss)
    console.print(table)


@bench_app.command("slice")
def bench_slice(
    events: Annotated[int, typer.Option(help="synthetic events to publish and read")] = 50_000,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Events/s: raw consume+decode vs the first slice (worker + sink), same events."""
    import os

    from oms.bench import first_slice, publish, raw_consume_decode
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    with kafka_for(settings):
        with console.status(f"publishing {events} events"):
            publish(settings, events, seed=os.getpid())
        with console.status("raw consume + decode"):
            raw = raw_consume_decode(settings, events)
        with console.status("first slice: worker + sink"):
            full = first_slice(settings, events)
    _print_measurements(f"oms bench slice: {settings.topic_partitions} partitions", [raw, full])
    console.print(f"first slice / raw: {full.rate / raw.rate:.2%}")


@bench_app.command("inventory")
def bench_inventory(
    events: Annotated[int, typer.Option(help="inventory events through the table")] = 50_000,
    keys: Annotated[int, typer.Option(help="SKU x location keys for recovery")] = 1_000_000,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Inventory events/s through the stock table, table recovery speed, worker RSS."""
    from oms.bench import inventory_throughput, raw_consume_decode, stock_table_recovery
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    with kafka_for(settings):
        with console.status(f"inventory: {events} events through the stock table"):
            table = inventory_throughput(settings, events)
        with console.status("raw consume + decode of the same events"):
            raw = raw_consume_decode(settings, events + 1)
        recovery_settings = settings.model_copy(
            update={
                "app_id": f"{settings.app_id}-recovery",
                "state_dir": settings.state_dir / "recovery",
            }
        )
        with console.status(f"recovery of {keys:,} keys"):
            recovery = stock_table_recovery(recovery_settings, keys)
    _print_measurements("oms bench inventory", [raw, table, recovery])
    console.print(f"stock table / raw: {table.rate / raw.rate:.2%}")


@bench_app.command("orders")
def bench_orders(
    orders: Annotated[int, typer.Option(min=1, help="orders to place, 1 to 5 lines each")] = 5_000,
    seed: Annotated[int, typer.Option(help="seed of the generated orders")] = 1,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Orders/s from placement to settled reservations, latency, worker RSS; baselines: raw
    consume+decode of the same input events, as many inventory events through the stock table."""
    from oms.bench import inventory_throughput, isolated, raw_consume_decode
    from oms.bench_orders import orders_throughput
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    with kafka_for(settings):
        with console.status(f"orders: {orders:,} placed, warehouses stocked first") as status:
            run = orders_throughput(
                settings,
                orders,
                seed,
                on_progress=lambda n: status.update(f"orders: {n:,} of {orders:,} settled"),
            )
        with console.status("baseline: raw consume + decode of the same input events"):
            raw = raw_consume_decode(settings, run.input_events)
        with console.status(f"baseline: {orders:,} inventory events through the stock table"):
            inventory = inventory_throughput(isolated(settings, "baseline"), orders)
    _print_measurements(
        f"oms bench orders: {orders:,} orders, seed {seed}, {settings.topic_partitions} partitions",
        [raw, inventory, run.orders, run.lines, run.reserve_commands, run.worker_messages],
    )
    console.print(
        f"order latency, published -> last reservation row produced: "
        f"p50 {run.latency(0.5):.2f}s, p99 {run.latency(0.99):.2f}s "
        "(all orders published at once: includes the wait behind the backlog)"
    )
    console.print(
        f"refused reservations: {run.refused:,}; backordered lines: {run.backordered_lines:,}"
    )
    console.print(
        f"baselines: raw = consume + Avro decode of this run's {run.input_events:,} input "
        f"events (locations, stock, orders), the Python floor; inventory = {orders:,} "
        "InventoryReceived through a fresh worker's intake and stock table (as bench inventory)"
    )
    console.print(
        f"orders/s / inventory events/s: {run.orders.rate / inventory.rate:.2%}; "
        f"worker input messages/s / inventory events/s: "
        f"{run.worker_messages.rate / inventory.rate:.2%}; "
        f"orders/s / raw: {run.orders.rate / raw.rate:.2%}"
    )


@bench_app.command("tracking")
def bench_tracking(
    shipments: Annotated[int, typer.Option(min=1, help="parcels open before the scans")] = 100_000,
    scans: Annotated[int, typer.Option(min=1, help="carrier scans to judge")] = 50_000,
    seed: Annotated[int, typer.Option(help="seed of the generated scans")] = 1,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Scans/s through the parcels table and exception rules with many parcels open, worker
    RSS; baseline: raw consume+decode of the same scans."""
    from oms.bench import raw_consume_decode
    from oms.bench_tracking import tracking_throughput
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    with kafka_for(settings):
        with console.status(f"tracking: {shipments:,} parcels, then {scans:,} scans"):
            load, judged = tracking_throughput(settings, shipments, scans, seed)
        with console.status("baseline: raw consume + decode of the same scans"):
            raw = raw_consume_decode(settings, scans)
    _print_measurements(f"oms bench tracking: seed {seed}", [raw, load, judged])
    console.print(f"scans through the rules / raw: {judged.rate / raw.rate:.2%}")


@bench_app.command("sink")
def bench_sink(
    orders: Annotated[int, typer.Option(min=1, help="orders, 7 sink messages each")] = 10_000,
    days: Annotated[float, typer.Option(help="event time the orders are spread over")] = 7.0,
    seconds: Annotated[float, typer.Option(help="length of the steady-load run")] = 20.0,
    load: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="steady load, as a share of the max rate")
    ] = 0.5,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Rows/s into ClickHouse through the sink (tables only, and with the KPI rollup refresh),
    and publication-to-visibility delay at a steady load; baseline: raw consume+decode."""
    from datetime import timedelta

    from oms.bench import Measurement
    from oms.bench_sink import (
        MESSAGES_PER_ORDER,
        ROWS_PER_MESSAGE,
        prepare,
        quantile,
        raw_consume_decode,
        sink_throughput,
        steady_load_delays,
    )
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    spacing = timedelta(days=days) / orders
    with kafka_for(settings):
        with console.status(f"publishing {orders:,} orders' sink messages"):
            count, total = prepare(settings, orders, spacing)
        with console.status("baseline: raw consume + decode"):
            raw = raw_consume_decode(settings, count)
        with console.status("sink: tables only"):
            plain, sink, client = sink_throughput(settings, count, total, False, "tables")
            sink.consumer.close()
            client.close()
        with console.status("sink: tables + KPI rollups"):
            full, sink, client = sink_throughput(settings, count, total, True, "kpis")
        rate = load * full.throughput.rate / ROWS_PER_MESSAGE
        first_order = total // MESSAGES_PER_ORDER
        with console.status(f"steady load: {rate:,.0f} messages/s for {seconds:.0f}s"):
            try:
                delays = steady_load_delays(settings, sink, first_order, rate, seconds, spacing)
            finally:
                sink.consumer.close()
                client.close()
    raw_rows = Measurement(
        "raw consume + decode (baseline; rows the messages become)",
        raw.events * ROWS_PER_MESSAGE,
        raw.seconds,
    )
    _print_measurements(
        f"oms bench sink: {raw.events:,} messages ({orders:,} orders over {days:g} days of event "
        f"time), batch {settings.sink_batch_size}, flush {settings.sink_flush_interval}s, "
        f"{settings.topic_partitions} partitions",
        [raw_rows, plain.throughput, full.throughput],
    )
    console.print(
        f"messages/s: raw {raw.rate:,.0f}, tables only "
        f"{plain.throughput.rate / ROWS_PER_MESSAGE:,.0f}, with KPI rollups "
        f"{full.throughput.rate / ROWS_PER_MESSAGE:,.0f}; with rollups / raw: "
        f"{full.throughput.rate / raw_rows.rate:.2%}, / tables only: "
        f"{full.throughput.rate / plain.throughput.rate:.2%}"
    )
    console.print(
        f"rollup refresh: {full.rollup_seconds:.2f}s of {full.throughput.seconds:.2f}s over "
        f"{full.batches} batches ({full.rollup_seconds / max(full.batches, 1) * 1000:.0f} ms each)"
    )
    console.print(
        f"steady load {delays.rate:,.0f} messages/s ({load:.0%} of the max), "
        f"{delays.messages:,} messages, {delays.batches} batches: publication -> visible in "
        f"ClickHouse with KPIs refreshed: p50 {quantile(delays.sink, 0.5):.3f}s, "
        f"p99 {quantile(delays.sink, 0.99):.3f}s; baseline publication -> consumed and "
        f"decoded: p50 {quantile(delays.raw, 0.5):.3f}s, p99 {quantile(delays.raw, 0.99):.3f}s"
    )


@bench_app.command("pipeline")
def bench_pipeline(
    events: Annotated[int, typer.Option(min=1, help="the first N events of a simulation")] = 60_000,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 1,
    latency_seconds: Annotated[
        float, typer.Option(min=1.0, help="length of the steady-load (delay) run")
    ] = 25.0,
    state_dir: StateDir = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Input events/s end to end over the simulator's mix (1 and 2 workers) against raw
    consume+decode and a naive Faust app; event time -> ClickHouse delay at half the max
    rate, worker RSS, changelog recovery time."""
    from oms.bench_pipeline import report, run_bench, verdicts
    from oms.localkafka import kafka_for

    settings = _bench_settings(state_dir, bootstrap_servers)
    with kafka_for(settings), console.status("oms bench pipeline") as status:
        bench = run_bench(settings, events, seed, latency_seconds, status.update)
    title = (
        f"oms bench pipeline: {bench.raw.events:,} simulated events, seed {seed}, "
        f"{settings.topic_partitions} partitions"
    )
    console.print(report(bench, title))
    for line in verdicts(bench):
        console.print(line)


@inventory_app.command("reconcile")
def inventory_reconcile(
    clickhouse: ClickHouseUrl = None,
    state_dir: StateDir = None,
    worker: Annotated[
        str | None, typer.Option(help="a running worker's web URL, to compare its live table")
    ] = None,
) -> None:
    """Rebuild stock from the ClickHouse ledger; compare with inventory_levels (and a worker)."""
    from rich.table import Table

    from connectors.clickhouse import reconcile
    from connectors.clickhouse.client import open_settings_client

    settings = load_settings(clickhouse_url=clickhouse, state_dir=state_dir)
    client = open_settings_client(settings)
    ledger = reconcile.ledger_stock(client)
    found = reconcile.differences("inventory_levels", ledger, reconcile.level_stock(client))
    if worker:
        live = reconcile.live_stock(worker, {sku for sku, _ in ledger})
        found += reconcile.differences("worker table", ledger, live)
    console.print(f"{len(ledger)} SKU x location positions in the ledger")
    if not found:
        console.print("no differences")
        return
    table = Table(title="differences: (on hand, reserved)")
    for column in ("source", "sku", "location", "ledger", "reported"):
        table.add_column(column)
    for d in found:
        table.add_row(d.source, d.sku, d.location_id, str(d.ledger), str(d.reported))
    console.print(table)
    raise typer.Exit(1)


@topics_app.command("create")
def topics_create(bootstrap_servers: Bootstrap = None) -> None:
    """Create every topic of streams/topics.py that does not exist yet."""
    from oms.kafka_admin import create_topics

    settings = load_settings(kafka_bootstrap_servers=bootstrap_servers)
    for name in create_topics(settings) or ["(all topics exist)"]:
        console.print(name)


@kafka_app.command("start")
def kafka_start(state_dir: StateDir = None) -> None:
    """Run the local broker in the foreground until Ctrl-C."""
    from oms.localkafka import LocalKafka

    settings = load_settings(state_dir=state_dir)
    broker = LocalKafka(settings.state_dir / "kafka")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    console.print(f"Kafka at {broker.start()}  (Ctrl-C stops it)")
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        broker.stop()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
