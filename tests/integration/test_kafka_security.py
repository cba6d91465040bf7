"""Every Kafka client of the project against a broker that demands SCRAM-SHA-512 over TLS.

One extra broker for this module (its own directory and ports, not the session's plaintext
one): a SASL_SSL client listener with a certificate from a throwaway CA, and SCRAM users
created when its storage is formatted. confluent-kafka clients (settings.kafka_client_config
and producer_config: topic creation, replay, group progress, the ClickHouse sink) and the
Faust worker (aiokafka, streams/app.py _credentials) all connect with the same settings.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from oms.kafka_admin import create_topics
from oms.localkafka import BrokerTls, LocalKafka
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.topics import ACCEPTED_EVENTS
from tests.conftest import make_settings

from .certs import make_broker_certs
from .helpers import SAMPLES, publish, query

pytestmark = pytest.mark.integration

USER, PASSWORD = "oms-app", "scram-Secret-42"
AUTH_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory):
    certs = make_broker_certs(tmp_path_factory.mktemp("kafka-certs"))
    broker = LocalKafka(
        tmp_path_factory.mktemp("kafka-secure"),
        scram_users={USER: PASSWORD, "other-user": "other-password"},
        tls=BrokerTls(certs.keystore, certs.keystore_password),
    )
    broker.start()
    try:
        yield broker, certs
    finally:
        broker.stop()
    assert broker.process.poll() is not None


def secure_settings(secure_broker, tmp_path, **changes) -> Settings:
    broker, certs = secure_broker
    return make_settings(
        broker.bootstrap_servers,
        tmp_path,
        "sec",
        **{
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": USER,
            "kafka_sasl_password": PASSWORD,
            "kafka_ssl_cafile": certs.ca_file,
            **changes,
        },
    )


def consume(config: dict, topic: str, count: int, timeout: float = 60.0) -> list:
    consumer = Consumer(
        {**config, "group.id": f"reader-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    return messages


def first_error(config: dict, timeout: float = AUTH_TIMEOUT) -> tuple[KafkaError | None, bool]:
    """Tries to produce one message; returns the first client error and whether it landed."""
    errors: list[KafkaError] = []
    delivered: list[bool] = []
    producer = Producer(
        {
            **config,
            "error_cb": errors.append,
            "log_level": 0,
            "message.timeout.ms": int(timeout * 1000),
        }
    )
    producer.produce("any-topic", b"x", on_delivery=lambda err, _msg: delivered.append(err is None))
    deadline = time.monotonic() + timeout
    while not errors and not delivered and time.monotonic() < deadline:
        producer.poll(0.2)
    producer.purge()
    producer.flush(1)
    return (errors[0] if errors else None), any(delivered)


def test_client_with_credentials_and_the_ca_produces_and_consumes(secure_broker, tmp_path):
    settings = secure_settings(secure_broker, tmp_path)
    assert settings.kafka_client_config()["security.protocol"] == "SASL_SSL"
    create_topics(settings)  # the admin client, with the same settings
    topic = ACCEPTED_EVENTS.name(settings.topic_prefix)
    producer = Producer(settings.producer_config())
    for i in range(3):
        producer.produce(topic, f"secret-{i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0

    messages = consume(settings.kafka_client_config(), topic, 3)
    assert sorted(m.value() for m in messages) == [b"secret-0", b"secret-1", b"secret-2"]


@pytest.mark.parametrize(
    ("username", "password"),
    [(USER, "wrong-password"), ("nobody", PASSWORD), ("other-user", PASSWORD)],
    ids=["wrong-password", "unknown-user", "another-users-password"],
)
def test_wrong_credentials_are_refused(secure_broker, tmp_path, username, password):
    settings = secure_settings(
        secure_broker, tmp_path, kafka_sasl_username=username, kafka_sasl_password=password
    )
    started = time.monotonic()
    error, delivered = first_error(settings.producer_config())
    assert error is not None, "no error within the timeout"
    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "SCRAM-SHA-512" in error.str()
    assert not delivered
    assert time.monotonic() - started < AUTH_TIMEOUT


def test_no_credentials_and_no_tls_are_refused(secure_broker, tmp_path):
    settings = secure_settings(secure_broker, tmp_path)
    config = settings.kafka_client_config()
    without_sasl = {key: value for key, value in config.items() if not key.startswith("sasl.")} | {
        "security.protocol": "SSL"
    }
    plaintext = {"bootstrap.servers": config["bootstrap.servers"]}
    other_ca = make_broker_certs(tmp_path / "other").ca_file  # a CA that did not sign it
    untrusted = config | {"ssl.ca.location": str(other_ca)}

    for name, client in {
        "TLS without SASL": without_sasl,
        "plaintext": plaintext,
        "SCRAM over TLS to an untrusted certificate": untrusted,
    }.items():
        error, delivered = first_error(client, timeout=10)
        assert not delivered, name
        assert error is not None, name
        if name.startswith("SCRAM"):
            assert error.code() == KafkaError._SSL, (name, error)
            assert "certificate verify failed" in error.str()
        else:  # the broker drops connections that do not speak SASL_SSL
            assert error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT), name


def test_worker_and_sink_run_with_scram_over_tls(secure_broker, tmp_path):
    settings = secure_settings(secure_broker, tmp_path)
    events = [json.loads(line) for line in (SAMPLES / "day.jsonl").read_text().splitlines()]
    location = next(e for e in events if e["type"] == "LocationUpserted")
    location["event_id"] = str(uuid.uuid4())

    with LocalPipeline(settings) as pipeline:  # worker and sink children, OMS_* settings
        summary = publish(settings, [location])
        assert summary.published.total() == 1
        pipeline.drain()
        accepted = consume(
            settings.kafka_client_config(), ACCEPTED_EVENTS.name(settings.topic_prefix), 1
        )
    serde = AvroSerde()
    event_type, record = serde.decode(accepted[0].value())
    assert (event_type, record["event_id"]) == ("LocationUpserted", location["event_id"])

    rows = query(settings, "SELECT event_id, type FROM raw_events FINAL")
    assert rows == [(location["event_id"], "LocationUpserted")]
