"""The HTTP endpoint each service exposes: `/metrics` for Prometheus and `/healthz` (see
`chinook_shared.health`)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from chinook_shared.health import Health, HealthGauge


class HttpServer:
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

    def start(self) -> "HttpServer":
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
