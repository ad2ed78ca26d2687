"""What the table fault scenarios share: their sizes and the bounded wait for `iceberg verify`."""

from tests.conftest import wait_for
from tests.faults.processes import Pipeline, Service
from tests.table_cli import verify_tables

SEEDED = 400
WRITES = 800
WRITE_SECONDS = 15.0
KILLS = 5
MAX_LIFETIME = 4.0  # an incarnation dies uniformly within this many seconds of working
BATCHES = ("--flush-records", "100", "--flush-age", "0.5")
DRAIN_TIMEOUT = 180.0  # bound on waiting for the running consumers to catch up
OUTAGE_SECONDS = 18.0  # longer than the consumer's --give-up-after (GIVE_UP) in the outage


def tables_arrive(pipeline: Pipeline, catalog: str, *services: Service) -> str:
    """Wait (bounded) until `iceberg verify` passes while the services run; its summary. On
    timeout the message carries the last verify output and the services' counters."""
    last: list[str] = []

    def passes() -> str | None:
        result = verify_tables(pipeline.cli, pipeline.db, catalog)
        last[:] = [result.stdout + result.stderr]
        return result.stdout if result.returncode == 0 else None

    try:
        return wait_for(passes, "every change to reach the tables once", DRAIN_TIMEOUT, 1.0)
    except AssertionError as error:
        counters = {
            service.name: {k: v for k, v in service.metrics().items() if k.endswith("_total")}
            for service in services
        }
        raise AssertionError(f"{error}\nlast verify: {last}\ncounters: {counters}") from None
