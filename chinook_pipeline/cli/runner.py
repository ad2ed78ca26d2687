"""Runs a long-lived service: logging, the metrics endpoint, and signals turned into a stop event."""

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Final

from chinook_pipeline.cli.service_settings import ServiceSettings
from chinook_pipeline.local.processes import stop_on_signals
from chinook_shared import logs, names
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.http_server import HttpServer

log = logging.getLogger(__name__)
# Each service's `/healthz` answer as a gauge on its `/metrics` (alerts read it).
HEALTH_METRICS = {"producer": names.PRODUCER_HEALTHY, "consumer": names.CONSUMER_HEALTHY}
STRAGGLER_GRACE: Final = 5.0  # seconds work threads get to end once the service has stopped


def run_service(
    name: str, target: Callable[[Health, threading.Event], None], service: ServiceSettings
) -> None:
    """Run `target(health, stop)` until it returns; SIGTERM and SIGINT set `stop` (a second
    one ends the process at once, see `stop_on_signals`)."""
    logs.configure(service.log_level)
    health = Health()
    stop = threading.Event()
    host, port = service.metrics_host, service.metrics_port
    server = _start_metrics(host, port, health, HEALTH_METRICS[name]) if port is not None else None
    if server:
        log.info("%s metrics on http://%s:%d/metrics (health: /healthz)", name, host, server.port)
    stop_on_signals(
        stop, lambda signal: log.info("%s received: finishing in-flight work, then exiting", signal)
    )
    try:
        target(health, stop)
    finally:
        if server:
            server.stop()
    _exit_past_stragglers(name)


def _exit_past_stragglers(name: str) -> None:
    """Let idle worker pools end and join every other thread for a moment; then, if work
    threads are still busy (an upload abandoned at the shutdown deadline), end the process
    without them: the service already left uncommitted what they were doing (it is redone at the
    next start), and the interpreter would otherwise wait for them."""
    _end_idle_pools()
    stragglers = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    deadline = time.monotonic() + STRAGGLER_GRACE
    for thread in stragglers:
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = [thread.name for thread in stragglers if thread.is_alive()]
    if busy:
        log.warning(
            "%s: exiting without waiting for %d background thread(s) still busy %.0fs after the "
            "service stopped (%s): their work was not committed and is redone at the next start",
            name,
            len(busy),
            STRAGGLER_GRACE,
            ", ".join(busy),
        )
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


def _end_idle_pools() -> None:
    """Shut down the worker pool pyiceberg keeps for the whole process (table reads and writes),
    whose idle workers would otherwise outlive the service; its work is done by now."""
    pools = sys.modules.get("pyiceberg.utils.concurrent")
    if pools is not None:
        pools.ExecutorFactory.get_or_create().shutdown(wait=False)


def _start_metrics(host: str, port: int, health: Health, health_metric: str) -> HttpServer:
    try:
        return HttpServer(host, port, health, health_metric=health_metric).start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PipelineError(
                f"metrics port {port} on {host} is already in use: choose another with "
                "--metrics-port / CHINOOK_METRICS_PORT"
            ) from None
        raise PipelineError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
