"""One settings object for every process of the pipeline, read from OMS_* environment variables.

The CLI turns the options a person would want to set on the command line into the same
environment variables, so a worker, a sink and a replay started from one `oms run` agree.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    # --- Kafka ---------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OMS_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset means: start the local broker",
    )
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OMS_SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_URL"),
    )
    topic_prefix: str = Field(default="oms.", description="prepended to every topic name")
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    # --- Worker --------------------------------------------------------------------------
    app_id: str = "oms-worker"
    state_dir: Path = Path(".oms-state")
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    commit_interval: float = Field(default=1.0, gt=0, description="seconds between offset commits")
    session_timeout: float = Field(
        default=10.0,
        ge=1,
        description="seconds before a silent consumer leaves its group (at least the "
        "broker's group.min.session.timeout.ms: 6 by default, 1 on the local broker)",
    )
    producer_linger_ms: int = Field(
        default=5, ge=0, description="worker producer batching delay; 0 sends every record alone"
    )
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        description="how long the worker's fetch waits for records (streams/transport.py)",
    )
    log_level: str = "warn"

    # --- ClickHouse sink -----------------------------------------------------------------
    clickhouse_url: str | None = Field(
        default=None, description="chdb:///path or http(s)://user:pass@host:8123/db"
    )
    clickhouse_password: SecretStr | None = Field(
        default=None, description="the HTTP server's password (wins over one in the URL)"
    )
    clickhouse_ca_file: Path | None = Field(
        default=None, description="CA bundle that signed an https ClickHouse server"
    )
    sink_group_id: str = "oms-clickhouse-sink"
    sink_batch_size: int = Field(default=5000, ge=1)
    sink_flush_interval: float = Field(default=1.0, gt=0, description="seconds")
    sink_metrics_port: int = Field(default=9108, description="the sink's /metrics and /health")
    dashboard_data_url: str | None = Field(
        default=None,
        description="the sink's KPIs for the worker's /dashboard; unset: "
        "http://127.0.0.1:{sink_metrics_port}/dashboard/data",
    )

    # --- Inventory -----------------------------------------------------------------------
    reorder_point: int = Field(default=5, ge=0, description="low stock at available <= this")
    reorder_points: dict[str, int] = Field(
        default_factory=dict, description='per-SKU overrides, JSON: {"SKU-1": 20}'
    )

    # --- Rule timings (event time) -------------------------------------------------------
    fraud_hold: timedelta = timedelta(hours=1)
    ship_by_sla: timedelta = Field(
        default=timedelta(hours=24), description="allocated -> shipped, counted from the hold's end"
    )
    stalled_after: timedelta = timedelta(hours=72)
    lost_after: timedelta = timedelta(days=10)
    follow_up_after: timedelta = timedelta(days=3)

    carrier_timings: dict[str, dict[str, timedelta]] = Field(
        default_factory=dict,
        description='per carrier stalled_after / lost_after, JSON: {"usps": {"lost_after": 86400}}',
    )
    clock_tick: timedelta = Field(
        default=timedelta(minutes=1), description="how often the event-time clock is broadcast"
    )

    # --- Orders --------------------------------------------------------------------------
    allocation_attempts: int = Field(
        default=3, ge=1, description="plans tried when reservations are refused, then backorder"
    )
    tracking_url_templates: dict[str, str] = Field(
        default_factory=lambda: {
            "ups": "https://www.ups.com/track?tracknum={tracking_number}",
            "fedex": "https://www.fedex.com/fedextrack/?trknbr={tracking_number}",
            "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
            "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={tracking_number}",
        },
        description='carrier -> URL with {tracking_number}, JSON: {"ups": "https://..."}',
    )
    customer_key_secret: SecretStr = Field(
        default=SecretStr("oms-development-only"),
        description="HMAC key of the customer_key hashes analysts see instead of customer ids",
    )

    # --- Mailer --------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = Field(default=None, description="unset: no SMTP AUTH")
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    mail_from: str = "orders@example.com"
    mail_templates_dir: Path | None = Field(
        default=None, description="one <kind>.txt per kind; unset: connectors/mailer/templates"
    )
    mailer_group_id: str = "oms-mailer"

    # --- Ingest (`oms ingest`: webhooks and canonical events over HTTP) ----------------
    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=8090, ge=1, le=65535)
    # a source without its secret answers 503 "not configured"
    shopify_webhook_secret: SecretStr | None = Field(
        default=None, description="the Shopify app's secret (X-Shopify-Hmac-Sha256)"
    )
    woocommerce_webhook_secret: SecretStr | None = Field(
        default=None, description="the WooCommerce webhook's secret (X-WC-Webhook-Signature)"
    )
    easypost_webhook_secret: SecretStr | None = Field(
        default=None, description="the EasyPost webhook secret (X-Hmac-Signature)"
    )
    aftership_webhook_secret: SecretStr | None = Field(
        default=None, description="the AfterShip webhook secret (aftership-hmac-sha256)"
    )
    ingest_bearer_token: SecretStr | None = Field(
        default=None, description="POST /events: Authorization: Bearer <token>"
    )

    # --- Worker web: internal pages -------------------------------------------------------
    internal_endpoints: bool = Field(
        default=True,
        description="serve /stock/{sku}/ and Faust's /table and /router pages; false: public "
        "pages only (/track, /dashboard, /metrics, /health)",
    )
    internal_port: int | None = Field(
        default=None,
        description="serve the internal pages on a separate site on this port (same host), "
        "not on web_port; unset: on web_port",
    )

    def tracking_url(self, carrier: str, tracking_number: str) -> str:
        template = self.tracking_url_templates.get(carrier.lower())
        return template.format(tracking_number=tracking_number) if template else ""

    def reorder_point_for(self, sku: str) -> int:
        return self.reorder_points.get(sku, self.reorder_point)

    @cached_property
    def resolved_clickhouse_url(self) -> str:
        """The configured ClickHouse, or the embedded engine under the state directory."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.state_dir / 'clickhouse').resolve()}"

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) connection settings, shared by producers and consumers."""
        config = {
            "bootstrap.servers": self.require_bootstrap(),
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username or ""
            password = self.kafka_sasl_password
            config["sasl.password"] = password.get_secret_value() if password else ""
        for key, path in (
            ("ssl.ca.location", self.kafka_ssl_cafile),
            ("ssl.certificate.location", self.kafka_ssl_certfile),
            ("ssl.key.location", self.kafka_ssl_keyfile),
        ):
            if path:
                config[key] = str(path)
        return config

    def producer_config(self) -> dict[str, str | int | bool]:
        """confluent-kafka producers: idempotent, and partitioning keys as Java clients and
        aiokafka (Faust) do, so a SKU's events and commands land in the same partition."""
        return {
            **self.kafka_client_config(),
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 5,
            "log_level": 3,
        }

    def require_bootstrap(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError(
                "no Kafka configured: set OMS_KAFKA_BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS)"
            )
        return self.kafka_bootstrap_servers
