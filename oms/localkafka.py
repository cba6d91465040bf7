"""A real single-node Apache Kafka broker (KRaft mode) for the demo, the tests and CI.

The broker jars come from Maven Central through the pom kept in oms/kafka/, copied once per
machine into a cache folder outside the repository. The broker's data lives under the state
directory, so a second run on the same state directory finds its topics and offsets again.
Users with their own cluster never get here: they set OMS_KAFKA_BOOTSTRAP_SERVERS.

Optionally the client listener is secured: SCRAM-SHA-512 users (created when the storage is
formatted) make it SASL, a keystore (BrokerTls) makes it TLS, both make it SASL_SSL. The
controller and inter-broker listeners then stay PLAINTEXT on loopback.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

_RESOURCES = Path(__file__).parent / "kafka"
POM = _RESOURCES / "pom.xml"
LOG4J_CONFIG = _RESOURCES / "log4j2.properties"


def kafka_version() -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    return ElementTree.parse(POM).getroot().find("m:properties/m:kafka.version", namespace).text


def jar_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "oms-stream" / f"kafka-{kafka_version()}"


def fetch_broker_jars() -> Path:
    """Copies the broker and its runtime dependencies from Maven Central, once per machine."""
    target = jar_cache_dir()
    marker = target / ".complete"
    if marker.exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Kafka broker jars")
    log.warning("fetching Apache Kafka %s jars into %s", kafka_version(), target)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={target}",
        ],
        check=True,
    )
    marker.touch()
    return target


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BrokerTls:
    """The broker's TLS identity: a keystore with its private key and certificate chain."""

    keystore: Path
    password: str
    keystore_type: str = "PKCS12"


class LocalKafka:
    """Formats KRaft storage once, starts the broker on loopback, waits for it, stops it.

    scram_users (name -> password) are created with `kafka-storage format --add-scram`, so
    they exist only if this call formats the storage (a fresh home directory).
    """

    def __init__(
        self,
        home: Path,
        heap: str = "768m",
        scram_users: Mapping[str, str] | None = None,
        tls: BrokerTls | None = None,
    ) -> None:
        self.home = home
        self.heap = heap
        self.scram_users = dict(scram_users or {})
        for name, password in self.scram_users.items():
            if not name or any(c in f"{name}{password}" for c in ',[]="\n'):
                raise ValueError('SCRAM user names and passwords may not contain , [ ] = or "')
        self.tls = tls
        self.process: subprocess.Popen | None = None
        self.broker_port, self.controller_port = self._ports()
        # secured brokers talk to themselves over a plaintext loopback listener
        self.internal_port = free_port() if self.secured else None

    @property
    def security_protocol(self) -> str:
        """The client listener's protocol, as clients set security.protocol."""
        sasl, ssl = bool(self.scram_users), self.tls is not None
        return {(False, False): "PLAINTEXT", (True, False): "SASL_PLAINTEXT"}.get(
            (sasl, ssl), "SASL_SSL" if sasl else "SSL"
        )

    @property
    def secured(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def _listener_config(self) -> list[str]:
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        if not self.secured:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{self.broker_port},{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.broker_port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ]
        protocol = self.security_protocol
        client = f"{protocol}://127.0.0.1:{self.broker_port}"
        internal = f"INTERNAL://127.0.0.1:{self.internal_port}"
        lines = [
            f"listeners={client},{internal},{controller}",
            f"advertised.listeners={client},{internal}",
            f"listener.security.protocol.map={protocol}:{protocol},"
            "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=INTERNAL",
        ]
        if self.scram_users:
            prefix = f"listener.name.{protocol.lower()}.{SCRAM_MECHANISM.lower()}"
            lines += [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"{prefix}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        if self.tls is not None:
            lines += [
                f"ssl.keystore.type={self.tls.keystore_type}",
                f"ssl.keystore.location={self.tls.keystore}",
                f"ssl.keystore.password={self.tls.password}",
                f"ssl.key.password={self.tls.password}",
                "ssl.client.auth=none",
            ]
        return lines

    def _ports(self) -> tuple[int, int]:
        """Keeps the ports of earlier runs: the KRaft voter set remembers the controller's."""
        saved = self.home / "ports.json"
        if saved.exists():
            ports = json.loads(saved.read_text())
            if _port_is_free(ports["broker"]) and _port_is_free(ports["controller"]):
                return ports["broker"], ports["controller"]
        return free_port(), free_port()

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "ports.json").write_text(
            json.dumps({"broker": self.broker_port, "controller": self.controller_port})
        )
        config = self.home / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    *self._listener_config(),
                    "controller.listener.names=CONTROLLER",
                    f"log.dirs={self.home / 'data'}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "group.min.session.timeout.ms=1000",  # oms chaos notices kills sooner
                    "auto.create.topics.enable=false",
                    "log.retention.hours=-1",
                    "",
                ]
            )
        )
        return config

    def _java(self, jars: Path, main: str, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{jars}/*",
            main,
            *args,
        ]

    def start(self, timeout: float = 90.0) -> str:
        jars = fetch_broker_jars()
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            subprocess.run(
                self._java(
                    jars,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    str(uuid.uuid4()),
                    "-c",
                    str(config),
                    *self._scram_arguments(),
                ),
                check=True,
                capture_output=True,
            )
        log_file = open(self.home / "broker.log", "ab")  # noqa: SIM115 - owned by the broker
        self.process = subprocess.Popen(
            self._java(jars, "kafka.Kafka", str(config)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_ready(timeout)
        log.warning("Apache Kafka %s broker ready at %s", kafka_version(), self.bootstrap_servers)
        return self.bootstrap_servers

    def _scram_arguments(self) -> list[str]:
        arguments = []
        for name, password in self.scram_users.items():
            arguments += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        return arguments

    def _wait_until_ready(self, timeout: float) -> None:
        # a secured broker is asked on its plaintext loopback listener: same process, and
        # the client listener opens with it
        port = self.internal_port if self.secured else self.broker_port
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Kafka broker exited; see {self.home / 'broker.log'}")
            try:
                admin.list_topics(timeout=2)
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"Kafka broker not ready after {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def kafka_for(settings) -> Iterator[str]:
    """The configured cluster, or a local broker under the state directory for the duration."""
    if settings.kafka_bootstrap_servers:
        yield settings.kafka_bootstrap_servers
        return
    broker = LocalKafka(settings.state_dir / "kafka")
    bootstrap = broker.start()
    settings.kafka_bootstrap_servers = bootstrap
    try:
        yield bootstrap
    finally:
        broker.stop()
        settings.kafka_bootstrap_servers = None
