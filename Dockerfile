# appwatch image: one image for every role (worker, connect, serve, ...); the command picks it.
#   docker build -t appwatch:0.1.0 .
#   docker run --rm -e APPWATCH_BROKER=kafka://kafka:9092 appwatch:0.1.0 worker

# --- builder: build the wheel and install it with its dependencies into /opt/venv -------------
FROM python:3.11.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler only for dependencies that have no wheel for this platform; it stays in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY appwatch ./appwatch
COPY core ./core
COPY streams ./streams
COPY alerts ./alerts
COPY connectors ./connectors
RUN pip install --upgrade pip \
 && pip wheel --no-deps --wheel-dir /wheels . \
 && pip install /wheels/appwatch-*.whl

# --- final: the venv on a slim base, as an unprivileged user ---------------------------------
FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="appwatch" \
      org.opencontainers.image.description="Event-stream monitoring and alerting for the AI-app market"
# Numeric uid/gid so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 appwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/appwatch --shell /usr/sbin/nologin appwatch \
 && mkdir -p /var/lib/appwatch/connectors /etc/appwatch \
 && chown -R 10001:10001 /var/lib/appwatch
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APPWATCH_WEB_HOST=0.0.0.0
# The working directory holds Faust's <group>-data dir, relative JSONL paths and, for
# `appwatch connect`, the checkpoints (--state-dir /var/lib/appwatch/connectors).
WORKDIR /var/lib/appwatch
USER 10001:10001
# 6066: worker /metrics /healthz; 8080: `appwatch serve`; 9100: `appwatch connect --metrics-port 9100`
EXPOSE 6066 8080 9100
# slim has no curl: ask the worker's /healthz with the standard library. Other roles
# (connect, serve) listen elsewhere: compose and Kubernetes override this check for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["appwatch"]
CMD ["worker"]
