"""The failing jobs of the consumer's partitions, shown in `/healthz`, the log and the metrics.

A transient fault makes the service `degraded`; a permanent one makes it `failing` (503), counts
`chinook_consumer_permanent_errors_total{cause}` and sets `chinook_consumer_failing`. Each
problem name (`s3`, `dead-letters`) recovers once no partition's job fails with it any more.
"""

import logging

from chinook_consumer import metrics
from chinook_shared.health import Health
from chinook_shared.retry import Failures, report

log = logging.getLogger(__name__)


class Troubles:
    def __init__(self, health: Health) -> None:
        self._health = health
        self._failing: dict[int, tuple[str, bool]] = {}  # partition -> (problem name, permanent)

    def failed(
        self, partition: int, name: str, what: str, failures: Failures, delay: float
    ) -> None:
        """A partition's job failed (after `failures.failed`); retried in `delay` seconds."""
        report(self._health, name, what, failures, log, delay)
        permanent = failures.failing
        if permanent and failures.fault is not None:
            metrics.PERMANENT_ERRORS.labels(cause=failures.fault.cause.split(":", 1)[0]).inc()
        self._failing[partition] = (name, permanent)
        self._update()

    def cleared(self, partitions: list[int]) -> None:
        """These partitions' jobs succeeded, or the partitions are gone."""
        names = {self._failing.pop(p)[0] for p in partitions if p in self._failing}
        for name in names - {name for name, _ in self._failing.values()}:
            self._health.recover(name)
        if names:
            self._update()

    def _update(self) -> None:
        metrics.FAILING.set(1 if any(permanent for _, permanent in self._failing.values()) else 0)
