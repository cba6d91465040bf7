"""`oms chaos`: a history replayed through several workers while a driver kills them and
restarts the broker; ClickHouse must then equal what one undisturbed worker made of it.

The reference is `oms run` of the same file with one worker. The chaos run replays the same
file, paced the same way (each event processed before the next across partitions), into a
pipeline of N workers on its own broker, while the driver SIGKILLs a random worker every
few seconds and restarts it on its own disk (a restarted pod keeps its volume) or, every
empty_disk_every-th kill, starts a new one on an empty disk (a lost node: every table
rebuilt from the changelogs), and stops and starts the broker once.
Afterwards every table must hold exactly the reference's rows, and `oms inventory
reconcile` must find no difference.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connectors.clickhouse.client import open_settings_client
from connectors.clickhouse.contents import Contents, TableDifference, differences, table_contents
from oms import processes
from oms.localkafka import LocalKafka, free_port
from oms.pipeline import LocalPipeline
from oms.runner import replay_through, run_file
from oms.settings import Settings


@dataclass(frozen=True)
class ChaosPlan:
    workers: int = 3
    partitions: int = 6
    kill_every: tuple[float, float] = (10.0, 20.0)  # seconds between kills, drawn uniformly
    broker_restart_after: float = 30.0  # seconds into the replay
    seed: int = 1
    # every n-th kill's replacement is a new worker on an empty disk (1: all; 0: none); the
    # others restart their victim in its own place, as Kubernetes restarts a StatefulSet pod
    # (the Helm chart's) on its volume. An empty disk recovers every changelog, which grows
    # with the history: on a long one a kill every 10-20 s would leave no time for anything
    empty_disk_every: int = 0
    session_timeout: float = 3.0  # seconds until the group notices a killed worker


@dataclass
class Kill:
    at: float  # seconds into the replay
    worker: str
    empty_disk: bool  # its replacement started on an empty disk (else: restarted on its own)
    recovered_after: float | None = None  # kill -> the replacement ready (tables recovered)


@dataclass
class ChaosLog:
    kills: list[Kill] = field(default_factory=list)
    broker_downtime: list[float] = field(default_factory=list)
    rebalances: list[float] = field(default_factory=list)  # seconds until all were ready


class ChaosDriver(threading.Thread):
    """Kills a random worker every few seconds (starting a new one in its place), restarts
    the broker once, and counts the worker group's rebalances, until stopped."""

    def __init__(
        self, pipeline: LocalPipeline, broker: LocalKafka, plan: ChaosPlan, console: Console
    ) -> None:
        super().__init__(name="chaos-driver", daemon=True)
        self.pipeline, self.broker, self.plan, self.console = pipeline, broker, plan, console
        self.log = ChaosLog()
        self._stopped = threading.Event()
        self._rng = random.Random(plan.seed)
        self._began = time.monotonic()
        self._recovering: list[tuple[Kill, processes.Child]] = []
        self._all_ready = False
        self._paused_since: float | None = None

    def stop(self) -> ChaosLog:
        self._stopped.set()
        self.join()
        return self.log

    def run(self) -> None:
        next_kill = self._began + self._rng.uniform(*self.plan.kill_every)
        restart_at: float | None = self._began + self.plan.broker_restart_after
        while not self._stopped.wait(0.25):
            now = time.monotonic()
            if now >= next_kill:
                self._kill_one()
                next_kill = now + self._rng.uniform(*self.plan.kill_every)
            if restart_at is not None and now >= restart_at:
                self._restart_broker()
                restart_at = None
            self._watch_recoveries()
            self._watch_rebalances()

    def _elapsed(self) -> float:
        return time.monotonic() - self._began

    def _kill_one(self) -> None:
        workers = self.pipeline.workers
        index = self._rng.randrange(len(workers))
        victim = workers[index]
        every = self.plan.empty_disk_every
        empty_disk = every > 0 and (len(self.log.kills) + 1) % every == 0
        kill = Kill(round(self._elapsed(), 1), victim.log_path.stem, empty_disk)
        if empty_disk:
            name = f"worker-{len(self.log.kills) + self.plan.workers + 1}"
            port_of_its_own = {"web_port": free_port()}  # and so an empty datadir
            replacement = processes.worker(
                self.pipeline.settings.model_copy(update=port_of_its_own), name
            )
            # started before it replaces the victim, so no wait ever sees a missing worker
            workers[index] = replacement.start()
            victim.kill()
            started = f"started {name} on an empty disk"
        else:
            replacement = victim.restart_killed()
            started = "restarted it on its disk"
        self.log.kills.append(kill)
        self._recovering.append((kill, replacement))
        self.console.log(f"SIGKILL {kill.worker} at {kill.at:.1f}s; {started}")

    def _restart_broker(self) -> None:
        stopped = time.monotonic()
        self.console.log(f"stopping the broker at {self._elapsed():.1f}s")
        self.broker.stop()
        self.broker.start()
        downtime = time.monotonic() - stopped
        self.log.broker_downtime.append(downtime)
        self.console.log(f"broker back after {downtime:.1f}s")

    def _watch_recoveries(self) -> None:
        for kill, replacement in list(self._recovering):
            if not replacement.alive():  # killed itself before it was ready
                self._recovering.remove((kill, replacement))
            elif processes.worker_ready(replacement):
                kill.recovered_after = round(self._elapsed() - kill.at, 1)
                self._recovering.remove((kill, replacement))
                self.console.log(f"{kill.worker}'s replacement ready {kill.recovered_after}s on")

    def _watch_rebalances(self) -> None:
        """A rebalance, as the workers show it: from one of them not ready (recovering its
        tables or waiting for its assignment) until all are ready again. Asking the group
        coordinator instead needs an admin client, and one destroyed with a request in
        flight blocks its thread."""
        ready = all(processes.worker_ready(worker) for worker in list(self.pipeline.workers))
        now = time.monotonic()
        if self._all_ready and not ready:
            self._paused_since = now
        elif ready and self._paused_since is not None:
            self.log.rebalances.append(round(now - self._paused_since, 1))
            self._paused_since = None
        self._all_ready = ready


@dataclass
class ChaosResult:
    log: ChaosLog
    seconds: float
    differences: list[TableDifference]
    reconcile_output: str
    reconciled: bool
    tables: int

    @property
    def passed(self) -> bool:
        return not self.differences and self.reconciled


def run_chaos(settings: Settings, events: Path, plan: ChaosPlan, console: Console) -> ChaosResult:
    """settings.state_dir holds the reference run (kept for the next run of the same file)
    and the chaos run (started afresh)."""
    layout = {
        "topic_partitions": plan.partitions,
        "kafka_bootstrap_servers": None,
        "session_timeout": plan.session_timeout,
    }
    reference = settings.model_copy(
        update={**layout, "state_dir": settings.state_dir / "reference"}
    )
    chaos = settings.model_copy(update={**layout, "state_dir": settings.state_dir / "chaos"})
    expected = _reference_contents(reference, events, console)
    shutil.rmtree(chaos.state_dir, ignore_errors=True)
    chaos.state_dir.mkdir(parents=True)
    broker = LocalKafka(chaos.state_dir / "kafka")
    chaos.kafka_bootstrap_servers = broker.start()
    started = time.monotonic()
    try:
        with LocalPipeline(chaos, timeout=600, workers=plan.workers) as pipeline:
            driver = ChaosDriver(pipeline, broker, plan, console)
            driver.start()
            try:
                replay_through(pipeline, events, console)
            finally:
                log = driver.stop()
            pipeline.drain()  # a kill during the last drain may have left work behind
    finally:
        broker.stop()
    seconds = time.monotonic() - started
    actual = _contents_of(chaos)
    reconcile = subprocess.run(
        [sys.executable, "-m", "oms.cli", "inventory", "reconcile"],
        env=processes.settings_env(chaos),
        capture_output=True,
        text=True,
    )
    return ChaosResult(
        log,
        seconds,
        differences(expected, actual),
        reconcile.stdout + reconcile.stderr,
        reconcile.returncode == 0,
        len(actual),
    )


def _reference_contents(reference: Settings, events: Path, console: Console) -> Contents:
    """One worker's ClickHouse after the file: computed once per file, then read back."""
    saved = reference.state_dir / "contents.pickle"
    digest = hashlib.sha256(events.read_bytes()).hexdigest()
    if saved.exists():
        kept_digest, contents = pickle.loads(saved.read_bytes())
        if kept_digest == digest:
            console.log(f"reference contents from {saved}")
            return contents
    shutil.rmtree(reference.state_dir, ignore_errors=True)
    console.log("reference run: one worker, no failures")
    run_file(reference, events, console)
    contents = _contents_of(reference)
    saved.write_bytes(pickle.dumps((digest, contents)))
    return contents


def _contents_of(settings: Settings) -> Contents:
    """Read in a process of its own: embedded ClickHouse opens one data directory per
    process, and the reference and the chaos run each have theirs."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_read_contents, settings).result()


def _read_contents(settings: Settings) -> Contents:
    client = open_settings_client(settings)
    try:
        return table_contents(client)
    finally:
        client.close()


def report(result: ChaosResult) -> Table:
    log = result.log
    table = Table(title="chaos run", show_header=False)
    recoveries = [k.recovered_after for k in log.kills if k.recovered_after is not None]
    rows = {
        "replay + drain": f"{result.seconds:.0f} s",
        "workers killed (SIGKILL) and replaced": str(len(log.kills)),
        "of them replaced on an empty disk": str(sum(k.empty_disk for k in log.kills)),
        "kills (s into the run: worker, * = empty disk)": ", ".join(
            f"{k.at}: {k.worker}{'*' if k.empty_disk else ''}" for k in log.kills
        ),
        "replacement ready after kill (s)": ", ".join(str(r) for r in recoveries) or "-",
        "broker restarts (downtime s)": ", ".join(f"{d:.1f}" for d in log.broker_downtime),
        "rebalances (s until every worker was ready again)": ", ".join(
            str(r) for r in log.rebalances
        ),
        "tables compared with the reference": str(result.tables),
        "tables differing": str(len(result.differences)),
        "oms inventory reconcile": "no differences" if result.reconciled else "DIFFERENCES",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    for d in result.differences:
        table.add_row(
            f"  {d.table}",
            f"{d.reference_rows} rows in the reference, {d.rows} here: "
            f"{d.missing} missing, {d.extra} extra; e.g. {d.examples[:2]}",
        )
    return table
