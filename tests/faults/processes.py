"""`chinook-pipeline` services as the fault tests drive them: started, killed at random instants,
restarted, stopped, and polled for conditions with bounded waits."""

import json
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chinook_pipeline.local.processes import Child
from chinook_pipeline.tools.writer import ChangeWriter
from tests.conftest import Cli, wait_for

# A killed group member is noticed after its session timeout; the librdkafka default (45 s)
# would make every restart wait that long. The classic protocol's only: under KIP-848 the broker
# sets the session (the embedded cluster's is 10 s).
FAST_GROUP = (
    "--kafka-property",
    "session.timeout.ms=2000",
    "--kafka-property",
    "heartbeat.interval.ms=400",
)


@dataclass
class Service(Child):
    """One `chinook-pipeline producer|consumer` process, which the tests also kill -9."""

    at_kill: dict[str, float] = field(default_factory=dict)

    def health(self) -> tuple[int, dict[str, Any]]:
        """`/healthz` as (HTTP status, body); (0, {}) while the endpoint is not answering."""
        url = self.metrics_url.removesuffix("/metrics") + "/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except (urllib.error.URLError, OSError):
            return 0, {}

    def kill(self) -> None:
        """kill -9: no flush, no commit, no goodbye to the group. `at_kill` keeps the metrics
        scraped just before."""
        self.at_kill = self.metrics()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Pipeline:
    """The parts of one scenario: database, broker, topic, bucket, group, and where logs go."""

    cli: Cli
    db: Path
    bootstrap_servers: str
    topic: str
    bucket: str
    logs: Path
    group: str = ""
    object_format: str = "protobuf"  # the consumers' --format, and what verify checks
    consumer_options: tuple[str, ...] = ()
    producer_options: tuple[str, ...] = ()
    group_protocol: str = "classic"  # the consumers' --group-protocol
    services: list[Service] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.group = self.group or f"{self.topic}-sink"

    def producer_args(self, *extra: str) -> list[str]:
        return [
            "producer",
            "--db",
            str(self.db),
            "--bootstrap-servers",
            self.bootstrap_servers,
            "--topic",
            self.topic,
            *self.producer_options,
            *extra,
        ]

    def consumer_args(self, *extra: str) -> list[str]:
        return [
            "consumer",
            "--bootstrap-servers",
            self.bootstrap_servers,
            "--topic",
            self.topic,
            "--bucket",
            self.bucket,
            "--group-id",
            self.group,
            "--format",
            self.object_format,
            "--group-protocol",
            self.group_protocol,
            *(FAST_GROUP if self.group_protocol == "classic" else ()),
            *self.consumer_options,
            *extra,
        ]

    def spawn(self, args: list[str]) -> Service:
        name = f"{args[0]}-{len(self.services) + 1:03d}"
        service = Service.start(
            name, args, self.logs, env=self.cli.env, metrics=True, new_session=False
        )
        self.services.append(service)
        return service

    def kill_all(self) -> None:
        """Leave nothing running (the end of a scenario, passed or failed)."""
        for service in self.services:
            if service.running():
                service.kill()

    def start_producer(self, *extra: str) -> Service:
        return self.spawn(self.producer_args(*extra))

    def start_consumer(self, *extra: str) -> Service:
        return self.spawn(self.consumer_args(*extra))

    def produce_all(self, timeout: float = 300) -> None:
        """Publish everything the database holds now (producer --exit-when-idle)."""
        self.cli.run(*self.producer_args("--exit-when-idle"), timeout=timeout)

    def consume_all(self, *extra: str, timeout: float = 300) -> None:
        """Upload and commit everything the topic holds now (consumer --exit-when-idle)."""
        self.cli.run(*self.consumer_args("--exit-when-idle", *extra), timeout=timeout)

    def verify(self) -> subprocess.CompletedProcess[str]:
        return self.cli.run(
            "verify",
            "--db",
            str(self.db),
            "--bucket",
            self.bucket,
            "--format",
            self.object_format,
            check=False,
        )

    def verify_ok(self) -> str:
        result = self.verify()
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


def start_writes(
    db: Path, changes: int, rate: float, seed: int
) -> tuple[threading.Thread, dict[str, int]]:
    """Apply exactly `changes` random inserts, updates and deletes at about `rate` per second in
    a background thread; the returned counts fill in as it goes."""
    counts: dict[str, int] = {}

    def run() -> None:
        writer = ChangeWriter(db, seed)
        try:
            start = time.monotonic()
            for done in range(changes):
                time.sleep(max(0.0, start + done / rate - time.monotonic()))
                op = writer.step()
                counts[op] = counts.get(op, 0) + 1
        finally:
            writer.close()

    thread = threading.Thread(target=run, name="change-writer", daemon=True)
    thread.start()
    return thread, counts


def kill_repeatedly(
    start: Callable[[], Service],
    kills: int,
    rng: random.Random,
    max_lifetime: float,
    working: Callable[[dict[str, float]], bool],
    keep_going: Callable[[], bool] = lambda: False,
) -> list[Service]:
    """Start a service and kill -9 it at a random instant of its working life (uniform in
    [0, max_lifetime] seconds after its metrics first satisfy `working`), at least `kills` times
    and for as long as `keep_going()` holds; returns the killed incarnations.

    An incarnation that exits by itself before its kill is a failure of the service.
    """
    killed: list[Service] = []
    while len(killed) < kills or keep_going():
        service = start()
        try:
            wait_for(
                lambda: working(service.metrics()) or not service.running(),
                f"{service.name} to start working",
                60,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; its log:\n{service.output()[-4000:]}") from None
        deadline = time.monotonic() + rng.uniform(0, max_lifetime)
        while time.monotonic() < deadline and service.running():
            time.sleep(0.02)
        assert service.running(), (
            f"{service.name} exited {service.process.returncode} before its kill:\n{service.output()}"
        )
        service.kill()
        killed.append(service)
    return killed
