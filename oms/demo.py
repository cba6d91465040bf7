"""`oms demo`: the whole pipeline on simulated traffic in real time, with the KPI dashboard.

The local broker (unless Kafka is configured), the topics, the worker and the sink (which
applies the ClickHouse migrations and serves the KPIs) come up as for `oms run`; then the
simulator of `oms simulate` publishes a retailer's day as event time advances `speed` times
faster than the wall clock, while the worker's /dashboard page draws the KPIs. Ctrl-C (or the
end of `duration`) stops the simulator, lets the pipeline catch up for a few seconds, stops
the worker, the sink and the broker, and prints the orders per status from ClickHouse.

Event time starts on a Monday at 11:00 in New York (warehouses open, the first carrier
pickups within two hours), or, when the pipeline already holds events, on the first weekday
after them at that hour: the worker's event-time clock never goes back. The simulator's
event ids come from its seed and the worker drops events it has seen, so a run on a pipeline
that already holds events takes a new seed unless one is given.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.clickhouse.client import describe, open_settings_client
from connectors.sources.replay import publish_events
from connectors.sources.simulation import DEFAULT_START, Simulation, SimulationConfig, paced
from oms.localkafka import kafka_for
from oms.pipeline import LocalPipeline
from oms.processes import Child
from oms.settings import Settings

START_HOUR_UTC = 16  # 11:00 in New York, 10:00 in Chicago, 08:00 in Los Angeles
OPEN_SPAN = timedelta(days=30)  # event time orders are placed in when no duration is given
CATCH_UP_SECONDS = 20.0  # after the simulator stops: for the last events to reach ClickHouse
PROGRESS_EVERY = 15.0  # seconds between progress lines


class Stopped(Exception):
    """Ctrl-C, SIGTERM or the end of --duration."""


@dataclass
class DemoRun:
    seed: int
    start: datetime
    published: Counter = field(default_factory=Counter)
    latest: str = ""  # the event time of the last event published
    simulation_ended: bool = False


def local_host(settings: Settings) -> str:
    """Where this machine reaches the worker and the sink."""
    return "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host


def dashboard_url(settings: Settings) -> str:
    return f"http://{local_host(settings)}:{settings.web_port}/dashboard"


def next_start(latest: datetime | None) -> datetime:
    """The demo's first order: DEFAULT_START's Monday at START_HOUR_UTC, or the first weekday
    at that hour at least an hour after the latest event the pipeline holds."""
    first = DEFAULT_START.replace(hour=START_HOUR_UTC)
    if latest is None or latest < first - timedelta(hours=1):
        return first
    start = (latest + timedelta(hours=1)).replace(hour=START_HOUR_UTC, minute=0, second=0)
    start = start.replace(microsecond=0)
    while start < latest + timedelta(hours=1) or start.weekday() >= 5:
        start += timedelta(days=1)
    return start


def ports_in_use(settings: Settings) -> list[str]:
    """The worker's and the sink's ports that something else listens on already (its
    /dashboard would be another pipeline's)."""
    taken = []
    for port, variable in (
        (settings.web_port, "OMS_WEB_PORT"),
        (settings.sink_metrics_port, "OMS_SINK_METRICS_PORT"),
    ):
        with socket.socket() as sock:
            try:
                sock.bind((settings.web_host, port))
            except OSError:
                taken.append(f"{port} ({variable})")
    return taken


def latest_event_time(settings: Settings) -> datetime | None:
    """The pipeline's event-time clock as ClickHouse has it (None when it holds nothing).
    Read before the sink starts: only one process may open an embedded chDB at a time."""
    client = open_settings_client(settings)
    try:
        if not client.command("EXISTS TABLE raw_events"):
            return None
        ms = client.query("SELECT toUnixTimestamp64Milli(max(occurred_at)) FROM raw_events")
        value = ms.result_rows[0][0]
        return datetime.fromtimestamp(value / 1000, UTC) if value else None
    finally:
        client.close()


def orders_by_status(settings: Settings) -> tuple[dict[str, int], int]:
    """The funnel of the dashboard, and the number of shipments (after the sink stopped)."""
    from connectors.clickhouse.dashboard_data import funnel

    client = open_settings_client(settings)
    try:
        data = funnel(client)
        shipments = client.query("SELECT count() FROM shipments FINAL").result_rows[0][0]
    finally:
        client.close()
    return dict(zip(data["statuses"], data["orders"], strict=True)), shipments


class Demo:
    def __init__(
        self,
        settings: Settings,
        console: Console,
        duration: float | None,
        speed: float,
        seed: int | None,
        orders_per_minute: float,
    ) -> None:
        self.settings = settings
        self.console = console
        self.duration = duration
        self.speed = speed
        self.seed = seed
        self.orders_per_minute = orders_per_minute
        self.own_broker = not settings.kafka_bootstrap_servers
        self.stopping = threading.Event()
        self.deadline: float | None = None
        self._hurry = False  # whether a second Ctrl-C may cut the current wait short

    # --- stopping ----------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        if not self.stopping.is_set():
            self.stopping.set()
            self.console.print(f"{signal.Signals(signum).name}: stopping")
        elif self._hurry:  # skips the catch-up; the processes are still stopped cleanly
            self._hurry = False
            raise KeyboardInterrupt
        else:
            self.console.print("still stopping: the worker, the sink and the broker")

    def _check(self, children: list[Child]) -> None:
        if self.stopping.is_set():
            raise Stopped
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise Stopped
        for child in children:
            child.check_alive()

    def _sleep(self, seconds: float, children: list[Child]) -> None:
        """Sleeps, but not past a stop or the deadline (then raises Stopped)."""
        end = time.monotonic() + seconds
        while True:
            self._check(children)
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.deadline is not None:
                left = min(left, max(self.deadline - time.monotonic(), 0))
            self.stopping.wait(min(left, 1.0))

    # --- the run -----------------------------------------------------------------------
    def run(self) -> int:
        """Returns the exit code: 0 after a stop on request or at the end of --duration."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> int:
        settings, console = self.settings, self.console
        taken = ports_in_use(settings)
        if taken:
            console.print(
                f"[red]port {' and '.join(taken)} in use, by another worker or sink? "
                "Stop it or choose free ports.[/red]"
            )
            return 1
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            latest = latest_event_time(settings)
        except Exception as exc:  # an unreachable ClickHouse server, a chDB held elsewhere
            where = describe(settings.resolved_clickhouse_url)
            console.print(f"[red]ClickHouse {escape(where)}: {escape(str(exc))}[/red]")
            return 1
        start = next_start(latest)
        seed = self.seed if self.seed is not None else (1 if latest is None else _new_seed())
        run = DemoRun(seed, start)
        console.print(
            f"oms demo: seed {seed}, {self.orders_per_minute:g} orders a minute from "
            f"{_text(start)} (event time), {self.speed:g}x faster than the wall clock"
            + (f", for {self.duration:g} s" if self.duration else ", until Ctrl-C")
        )
        if latest:
            console.print(f"the pipeline already holds events up to {_text(latest)}")
        failed = False
        with kafka_for(settings) as bootstrap:
            console.print(
                f"Kafka at {bootstrap}"
                + (f" (local broker under {settings.state_dir})" if self.own_broker else "")
            )
            console.print(
                f"ClickHouse {describe(settings.resolved_clickhouse_url)}; "
                f"logs in {settings.state_dir / 'logs'}"
            )
            with LocalPipeline(settings) as pipeline:
                console.print("topics created; worker and sink starting (the sink migrates)")
                try:
                    self._wait_until_serving(pipeline.children)
                    if self.duration:
                        self.deadline = time.monotonic() + self.duration
                    console.print(f"[bold]dashboard: {dashboard_url(settings)}[/bold]")
                    console.print("publishing simulated traffic (Ctrl-C stops)")
                    self._publish(run, pipeline.children)
                except Stopped:
                    pass
                except (RuntimeError, TimeoutError) as exc:  # a child died, Kafka refused
                    console.print(f"[red]{escape(str(exc))}[/red]")
                    failed = True
                console.print(
                    f"simulator stopped: {run.published.total():,} events published, "
                    f"event time up to {run.latest or '-'}"
                )
                if not failed:
                    self._catch_up(pipeline)
                console.print("stopping the worker and the sink")
            if self.own_broker:
                console.print("stopping the local broker")
        console.print(self._summary(run))
        return 1 if failed else 0

    def _wait_until_serving(self, children: list[Child], timeout: float = 180.0) -> None:
        """Until the worker's web server and the sink's status server answer."""
        host = local_host(self.settings)
        urls = [
            f"http://{host}:{self.settings.web_port}/health/live",
            f"http://{host}:{self.settings.sink_metrics_port}/health/live",
        ]
        deadline = time.monotonic() + timeout
        while urls:
            try:
                with urllib.request.urlopen(urls[0], timeout=2):
                    urls.pop(0)
                    continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{urls[0]} did not answer within {timeout:.0f}s")
            self._sleep(0.5, children)

    def _publish(self, run: DemoRun, children: list[Child]) -> None:
        span = (
            timedelta(seconds=self.duration * self.speed) + timedelta(hours=1)
            if self.duration
            else OPEN_SPAN
        )
        simulation = Simulation(
            SimulationConfig(
                seed=run.seed,
                orders_per_minute=self.orders_per_minute,
                span=span,
                start=run.start,
                fraud_hold=self.settings.fraud_hold,
            )
        )
        events = paced(
            simulation.events(),
            self.speed,
            simulation.t0,
            sleep=lambda seconds: self._sleep(seconds, children),
        )
        producer = Producer(self.settings.producer_config())
        try:
            publish_events(
                producer, self.settings.topic_prefix, self._watched(events, run, children), "demo"
            )
        finally:
            producer.flush(10)
        run.simulation_ended = True
        self.console.print(
            "the simulation has ended: every journey is over; the dashboard stays up"
            + (" until the end of --duration" if self.deadline else " until Ctrl-C")
        )
        while True:
            self._sleep(3600, children)

    def _watched(self, events: Iterable[dict], run: DemoRun, children: list[Child]) -> Iterator:
        """Counts what is published, checks for a stop and prints progress now and then."""
        next_report = time.monotonic() + PROGRESS_EVERY
        for event in events:
            self._check(children)
            run.published[event["type"]] += 1
            run.latest = event["occurred_at"]
            yield event
            if time.monotonic() >= next_report:
                next_report += PROGRESS_EVERY
                self.console.print(
                    f"  event time {run.latest}: {run.published.total():,} events published, "
                    f"{run.published['OrderPlaced']:,} orders"
                )

    def _catch_up(self, pipeline: LocalPipeline) -> None:
        """Gives the worker and the sink a few seconds to take in what was published."""
        pipeline.timeout = CATCH_UP_SECONDS
        self.console.print(
            f"letting the pipeline catch up (at most {CATCH_UP_SECONDS:.0f}s; Ctrl-C skips)"
        )
        self._hurry = True
        try:
            pipeline.drain()
            self.console.print("every published event is processed and in ClickHouse")
        except (TimeoutError, KeyboardInterrupt):
            self.console.print("not caught up: the rest is processed by the next run")
        except RuntimeError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/red]")
        finally:
            self._hurry = False

    def _summary(self, run: DemoRun) -> Table:
        table = Table(title=f"orders by status (seed {run.seed})", min_width=44)
        table.add_column("status")
        table.add_column("orders", justify="right")
        try:
            counts, shipments = orders_by_status(self.settings)
        except Exception as exc:  # the summary never hides how the run went
            table.add_row(escape(f"(ClickHouse not readable: {exc})"), "")
            return table
        for status, n in counts.items():
            table.add_row(status, f"{n:,}")
        table.add_row("total", f"{sum(counts.values()):,}", style="bold")
        table.caption = f"in ClickHouse, with {shipments:,} shipments"
        return table


def run_demo(
    settings: Settings,
    console: Console,
    duration: float | None = None,
    speed: float = 120.0,
    seed: int | None = None,
    orders_per_minute: float = 3.0,
) -> int:
    return Demo(settings, console, duration, speed, seed, orders_per_minute).run()


def _new_seed() -> int:
    return int(time.time()) % 1_000_000


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC")
