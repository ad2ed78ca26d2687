"""The HTTP endpoint each service exposes: `/metrics` for Prometheus and `/healthz`.

`/healthz` answers 200 with `{"status": "ok"}` or `{"status": "degraded", "reasons": [...]}`
while the service's main loop is alive (a degraded service is working around a problem, such as
an S3 outage, and must not be restarted for it); 503 `failing` while a permanent fault (access
denied, a missing bucket) stops it from making progress, which someone must fix; and 503
`stalled` when the loop has not beaten for `stall_after` seconds. `/metrics` carries the same
answer as a gauge (1 for 200, 0 for 503) when the server is given its name, so that Prometheus,
which only scrapes `/metrics`, can alert on it.
"""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Health:
    """Thread-safe record of what currently degrades a service, plus a liveness heartbeat."""

    def __init__(self, stall_after: float = 120.0) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}
        self._failures: dict[str, str] = {}
        self._beat = time.monotonic()
        self._stall_after = stall_after

    def beat(self) -> None:
        self._beat = time.monotonic()

    def degrade(self, name: str, reason: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
            self._problems[name] = reason

    def fail(self, name: str, reason: str) -> None:
        """A permanent fault: `/healthz` answers 503 `failing` until `recover(name)`."""
        with self._lock:
            self._problems.pop(name, None)
            self._failures[name] = reason

    def recover(self, name: str) -> None:
        with self._lock:
            self._problems.pop(name, None)
            self._failures.pop(name, None)

    def report(self) -> tuple[int, dict[str, object]]:
        """(HTTP status, body) for `/healthz`."""
        with self._lock:
            failures = [
                f"{name}: failing: {reason}" for name, reason in sorted(self._failures.items())
            ]
            reasons = [f"{name}: {reason}" for name, reason in sorted(self._problems.items())]
        if time.monotonic() - self._beat > self._stall_after:
            return 503, {"status": "stalled", "reasons": failures + reasons}
        if failures:
            return 503, {"status": "failing", "reasons": failures + reasons}
        return 200, {"status": "degraded" if reasons else "ok", "reasons": reasons}


class HealthGauge(Collector):
    """`/healthz`'s answer at scrape time as a gauge: 1 while it answers 200 (ok or degraded),
    0 while 503 (failing or stalled). Read at scrape time, so a stalled loop still shows."""

    def __init__(self, name: str, health: Health) -> None:
        self._name, self._health = name, health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status, _ = self._health.report()
        help_text = "1 while /healthz answers 200 (ok, degraded), 0 while 503 (failing, stalled)"
        yield GaugeMetricFamily(self._name, help_text, value=1.0 if status == 200 else 0.0)


class MetricsServer:
    """Serves `/metrics` and `/healthz` on a daemon thread; with `health_metric`, `/metrics`
    also carries the health gauge of that name."""

    def __init__(
        self,
        host: str,
        port: int,
        health: Health,
        registry: CollectorRegistry = REGISTRY,
        health_metric: str | None = None,
    ) -> None:
        own = CollectorRegistry()  # this server's alone: the process-wide one may hold others
        if health_metric is not None:
            own.register(HealthGauge(health_metric, health))
        handler = _handler_for(health, (registry, own))
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        # A short poll interval: stopping waits for it, and every service exit pays that wait.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(
    health: Health, registries: tuple[CollectorRegistry, ...]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = b"".join(generate_latest(registry) for registry in registries)
                self._send(200, CONTENT_TYPE_LATEST, body)
            elif path == "/healthz":
                status, body = health.report()
                self._send(status, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes are not worth a log line."""

    return Handler
