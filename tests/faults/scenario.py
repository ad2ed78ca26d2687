"""What the fault scenarios share: their sizes (small by default, the soak's with
CHINOOK_SOAK=1), the seed, and the bounded waits on the running services."""

import os

import pytest

from chinook_shared import names
from tests.conftest import wait_for
from tests.faults.processes import Pipeline, Service

SOAK = os.environ.get("CHINOOK_SOAK") == "1"
CHANGES = 50_000 if SOAK else 5_000  # per scenario: seeded customers plus random changes
SEEDED = CHANGES * 2 // 5
WRITES = CHANGES - SEEDED  # inserts, updates and deletes applied while the services run
KILLS = 20 if SOAK else 10  # kill -9s of the service under test, at least
KILL_WRITE_SECONDS = 200.0 if SOAK else 25.0  # the writes of a kill scenario are spread over this
WRITE_SECONDS = 120.0 if SOAK else 10.0  # ... and of the other scenarios over this
BUSY_WRITE_RATE = 2_000.0  # changes per second of an application keeping its database busy
CONSUMER_MAX_LIFETIME = 4.0  # an incarnation dies uniformly within this many seconds of working
PRODUCER_MAX_LIFETIME = 3.0
OUTAGE_SECONDS = 20.0 if SOAK else 5.0
GARBAGE = 1_000
SEED = int(os.environ.get("CHINOOK_FAULT_SEED", "20261125"))
DRAIN_TIMEOUT = 900.0 if SOAK else 180.0  # bound on waiting for the pipeline to catch up
SMALL_BATCHES = ("--flush-records", "200", "--flush-age", "0.3")
BOTH_FORMATS = pytest.mark.parametrize("object_format", ["protobuf", "parquet"])


def stop_ok(*services: Service) -> None:
    """SIGTERM each service and require the graceful exit 0."""
    for service in services:
        code = service.stop()
        assert code == 0, f"{service.name} exited {code}:\n{service.output()[-4000:]}"


def arrives(pipeline: Pipeline, *services: Service) -> str:
    """Wait (bounded) until verify passes while the services run; its summary. On timeout the
    message carries the last verify summary and the running services' counters."""
    last: list[str] = []

    def passes() -> str | None:
        result = pipeline.verify()
        last[:] = [result.stdout + result.stderr]
        return result.stdout if result.returncode == 0 else None

    try:
        return wait_for(
            passes, "every change to reach S3 exactly once", DRAIN_TIMEOUT, interval=1.0
        )
    except AssertionError as error:
        counters = {
            service.name: {
                k: v
                for k, v in service.metrics().items()
                if k.endswith("_total") or k.endswith("lag")
            }
            for service in services
        }
        raise AssertionError(f"{error}\nlast verify: {last}\ncounters: {counters}") from None


def publishing(producer: Service) -> None:
    """Wait until the producer has published (its first start has set the database up)."""
    wait_for(
        lambda: producer.metrics().get(names.PRODUCER_MESSAGES_PUBLISHED) or not producer.running(),
        f"{producer.name} to publish",
    )
    all_alive(producer)


def assigned(metrics: dict[str, float]) -> bool:
    """The consumer owns partitions and has fetched from them (its lag gauge has samples)."""
    return names.CONSUMER_LAG in metrics


def all_alive(*services: Service) -> None:
    for service in services:
        assert service.running(), (
            f"{service.name} exited {service.process.returncode}:\n{service.output()[-4000:]}"
        )
