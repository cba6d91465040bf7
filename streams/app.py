"""The Faust app: built from the settings, with the topics, tables and agents of every concept."""

from __future__ import annotations

import faust

from oms.settings import Settings
from streams.gapless import STORE_SCHEME as GAPLESS_STORE
from streams.gapless import GaplessTable
from streams.transport import worker_transport


def create_app(settings: Settings) -> faust.App:
    datadir = settings.state_dir / "worker" / str(settings.web_port)
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.require_bootstrap().split(",")],
        broker_credentials=_credentials(settings),
        store=f"{GAPLESS_STORE}://",
        Table=GaplessTable,
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        broker_commit_interval=settings.commit_interval,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.session_timeout / 4,
        producer_acks=-1,
        producer_linger_ms=settings.producer_linger_ms,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
    )
    # before anything reaches for app.transport (topics do)
    app.transport = worker_transport(settings.fetch_max_wait_ms)(app.conf.broker_consumer, app)
    from schemas.serde import make_serde
    from streams.clock import ClockBroadcaster, register_clock_agent
    from streams.ingest.agents import register_intake
    from streams.inventory.agents import InventoryService
    from streams.monitoring import register_monitoring
    from streams.orders.agents import OrderService
    from streams.topics import CLOCK
    from streams.tracking.agents import TrackingService
    from streams.web import register_pages

    serde = make_serde(settings.schema_registry_url)
    inventory = InventoryService(app, settings, serde)
    orders = OrderService(app, settings, serde, inventory)
    tracking = TrackingService(app, settings, serde)
    clock_topic = app.topic(
        CLOCK.name(settings.topic_prefix), key_serializer="raw", value_serializer="raw"
    )
    clock = ClockBroadcaster(clock_topic, settings.topic_partitions, settings.clock_tick, serde)
    register_clock_agent(app, clock_topic, serde, [orders.clock, tracking.clock])
    register_intake(
        app, settings, serde, inventory.handlers() | orders.handlers() | tracking.handlers(), clock
    )
    register_pages(app, inventory, tracking)
    register_monitoring(app, settings)
    return app


def _credentials(settings: Settings):
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=_ssl_context(settings),
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    return None


def _ssl_context(settings: Settings):
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    import ssl

    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context
