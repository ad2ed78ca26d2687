"""Runs a long-lived service: logging, the metrics endpoint, and signals turned into a stop event."""

import errno
import logging
import os
import sys
import threading
from collections.abc import Callable

from chinook_pipeline.cli.service_options import ServiceSettings
from chinook_pipeline.local.processes import stop_on_signals
from shared import logs, names
from shared.errors import PipelineError
from shared.metrics import Health, MetricsServer

log = logging.getLogger("chinook_pipeline")
# Each service's `/healthz` answer as a gauge on its `/metrics` (alerts read it).
HEALTH_METRICS = {"producer": names.PRODUCER_HEALTHY, "consumer": names.CONSUMER_HEALTHY}


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
    """End the process now if work threads outlived the service (an upload abandoned at the
    shutdown deadline): the service already left uncommitted what they were doing, and the
    interpreter would otherwise wait for them."""
    stragglers = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    if stragglers:
        log.warning(
            "%s: exiting without waiting for %d background thread(s)", name, len(stragglers)
        )
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


def _start_metrics(host: str, port: int, health: Health, health_metric: str) -> MetricsServer:
    try:
        return MetricsServer(host, port, health, health_metric=health_metric).start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PipelineError(
                f"metrics port {port} on {host} is already in use: choose another with "
                "--metrics-port / CHINOOK_METRICS_PORT"
            ) from None
        raise PipelineError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
