# The `chinook-pipeline` image: producer, consumer and tools, run as a non-root user.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY producer ./producer
COPY consumer ./consumer
COPY chinook_pipeline ./chinook_pipeline
RUN pip install --no-cache-dir . \
    && rm -rf /src \
    && groupadd --system --gid 10001 chinook \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent chinook \
    && mkdir /data \
    && chown chinook:chinook /data

# /data is owned by the service user so that a named volume mounted there starts out writable.
WORKDIR /data
USER 10001:10001

# Our services serve /healthz next to /metrics on CHINOOK_METRICS_PORT; 503 (stalled) fails it.
# The CLI has no default port (services started side by side would clash), so the image sets
# one: a plain `docker run ... producer` serves where the HEALTHCHECK looks, on every interface
# (a container's loopback is unreachable from outside). Compose overrides both per service.
ENV CHINOOK_METRICS_HOST=0.0.0.0 \
    CHINOOK_METRICS_PORT=9100
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['CHINOOK_METRICS_PORT'], timeout=4)"]

ENTRYPOINT ["chinook-pipeline"]
CMD ["--help"]
