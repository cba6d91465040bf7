# oms-stream: one image for every process (`oms worker`, `oms sink`, `oms topics create`,
# `oms migrate`, ...). Dependencies are pinned by constraints.txt, the frozen virtualenv the
# tests ran with (regenerate: .venv/bin/pip freeze --exclude-editable > constraints.txt).
# The local Kafka helper (`oms kafka start`, `oms run`) needs Java and is not for this image:
# point OMS_KAFKA_BOOTSTRAP_SERVERS at a cluster.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/oms
COPY constraints.txt pyproject.toml README.md ./
COPY oms ./oms
COPY streams ./streams
COPY schemas ./schemas
COPY connectors ./connectors
RUN /opt/oms/bin/pip install --constraint constraints.txt . \
    && /opt/oms/bin/oms --help >/dev/null

FROM python:3.11-slim
RUN groupadd --system --gid 10001 oms \
    && useradd --system --uid 10001 --gid oms --home-dir /home/oms --create-home \
        --shell /usr/sbin/nologin oms \
    && mkdir -p /var/lib/oms \
    && chown oms:oms /var/lib/oms
COPY --from=build /opt/oms /opt/oms
ENV PATH=/opt/oms/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMS_STATE_DIR=/var/lib/oms
USER 10001:10001
WORKDIR /home/oms
# 6066: a worker's web server (OMS_WEB_PORT); 9108: the sink's metrics (OMS_SINK_METRICS_PORT)
EXPOSE 6066 9108
ENTRYPOINT ["oms"]
CMD ["--help"]
