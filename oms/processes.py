"""Starting and stopping the pipeline's processes (worker, sink) as children of a command.

Children get the parent's settings as OMS_* environment variables, log to files under the
state directory, and are stopped with SIGTERM (graceful: the sink flushes, the worker
commits) or killed outright by the crash tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.request import urlopen

from pydantic import SecretStr

from oms.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        raw = getattr(settings, name)
        if raw is None:
            continue
        if isinstance(raw, SecretStr):
            env[f"OMS_{name.upper()}"] = raw.get_secret_value()
        elif isinstance(value, dict | list):
            env[f"OMS_{name.upper()}"] = json.dumps(value)
        else:
            env[f"OMS_{name.upper()}"] = str(value)
    return env


class Child:
    """One `oms <command>` child process."""

    def __init__(self, settings: Settings, command: list[str], log_name: str) -> None:
        self.settings = settings
        self.command = command
        self.log_path: Path = settings.state_dir / "logs" / f"{log_name}.log"
        self.process: subprocess.Popen | None = None
        self._restarting = threading.Lock()  # held while the process is swapped

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oms.cli", *self.command],
                env=settings_env(self.settings),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        with self._restarting:
            alive = self.alive()
        if not alive:
            raise RuntimeError(f"{' '.join(self.command)} exited; see {self.log_path}")

    def stop(self, timeout: float = 60.0) -> int | None:
        if not self.alive():
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait()

    def restart_killed(self) -> Child:
        """SIGKILL, then start again with the same settings (and so the same disk), never
        seen dead by check_alive in between."""
        with self._restarting:
            self.kill()
            return self.start()


def worker_ready(worker: Child, timeout: float = 1.0) -> bool:
    """The worker answers /health/ready with 200: tables recovered, no rebalance under way
    (503 then, or no answer while it starts)."""
    url = f"http://{worker.settings.web_host}:{worker.settings.web_port}/health/ready"
    try:
        with urlopen(url, timeout=timeout):
            return True
    except OSError:  # URLError and HTTPError (503) are OSErrors
        return False


def worker(settings: Settings, name: str = "worker") -> Child:
    return Child(settings, ["worker"], name)


def sink(settings: Settings, name: str = "sink") -> Child:
    return Child(settings, ["sink"], name)


def wait_for(
    condition, children: list[Child] | Callable[[], list[Child]], timeout: float, what: str
) -> None:
    """Polls condition() until true, failing fast when a child died or time ran out.

    children may be a function, for a set of processes that changes while waiting."""
    deadline = time.monotonic() + timeout
    while not condition():
        for child in children() if callable(children) else children:
            child.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
