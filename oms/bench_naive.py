"""The naive baseline of `oms bench pipeline`: one Faust agent over the input topics that
decodes each event (Avro, schemas.serde) and writes one table entry per event (event id ->
event type), nothing else: no validation, de-duplication, handlers or outputs.

It runs as a child process, `python -m oms.bench_naive`, configured like the worker by the
OMS_* environment (oms.processes.settings_env), with a RocksDB table as the worker's.
"""

from __future__ import annotations

import subprocess
import sys

import faust

from oms import processes
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.app import _credentials
from streams.topics import INPUT_TOPICS


def naive_app(settings: Settings) -> faust.App:
    servers = settings.require_bootstrap().split(",")
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in servers],
        broker_credentials=_credentials(settings),
        broker_commit_interval=settings.commit_interval,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.state_dir / "naive"),
        producer_linger_ms=settings.producer_linger_ms,
        store="rocksdb://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        web_enabled=False,
    )
    serde = AvroSerde()
    names = [spec.name(settings.topic_prefix) for spec in INPUT_TOPICS]
    source = app.topic(*names, key_serializer="raw", value_serializer="raw")
    table = app.Table("naive", key_type=str, value_type=str, default=None)

    @app.agent(source, name="naive")
    async def naive(stream: faust.StreamT) -> None:
        async for event in stream.events():
            event_type, record = serde.decode(event.message.value)
            table[record["event_id"]] = event_type

    return app


class NaiveChild(processes.Child):
    """The naive app as a child process: settings, log file and stop as the worker's."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, ["(naive baseline)"], "naive")

    def start(self) -> NaiveChild:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = processes.settings_env(self.settings)
        with self.log_path.open("ab") as log:
            argv = [sys.executable, "-m", __name__]
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self


if __name__ == "__main__":
    settings = Settings()
    faust.Worker(naive_app(settings), loglevel=settings.log_level).execute_from_commandline()
