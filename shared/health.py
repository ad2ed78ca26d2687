"""How a service is doing: what `/healthz` answers, and the same answer as a Prometheus gauge.

`/healthz` answers 200 with `{"status": "ok"}` or `{"status": "degraded", "reasons": [...]}`
while the service's main loop is alive (a degraded service is working around a problem, such as
an S3 outage, and must not be restarted for it); 503 `failing` while a permanent fault (access
denied, a missing bucket) stops it from making progress, which someone must fix; and 503
`stalled` when the loop has not beaten for `stall_after` seconds. `/metrics` carries the same
answer as a gauge (1 for 200, 0 for 503, `HealthGauge`) when the HTTP server
(`chinook_shared.http_server`) is given its name, so that Prometheus, which only scrapes `/metrics`, can
alert on it.
"""

import threading
import time
from collections.abc import Iterator

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
