"""The table consumer's catalog unavailable: a real PostgreSQL (pyiceberg's SQL catalog over
`postgresql+psycopg2://`, as compose runs it) down when the consumer starts, and stopped for a
while mid-run as the database keeps changing.

A catalog that is down is a transient fault wherever it strikes (shared/retry.py), at start as
for the SQLite catalog locked at start (tests/integration/test_table_consumer.py): the consumer
waits with `degraded` health, so both outages outlast its `--give-up-after`, which only a
permanent fault (a missing table, a denied catalog) runs down. At start the wait is bounded by
`--start-timeout` (60 s by default): a catalog that has never answered within it ends the run
(tests/integration/test_exit_when_idle.py); the outage here is shorter.
Afterwards every change is in the change table exactly once and the state table equals the
database (`chinook-pipeline iceberg verify`), and the catalog's password appeared nowhere.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chinook_pipeline.local import kafka
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.processes import Service, start_writes
from tests.faults.scenario import SEED, all_alive, publishing, stop_ok
from tests.faults.test_table_faults import BATCHES, SEEDED, WRITE_SECONDS, WRITES, tables_arrive
from tests.postgres import PostgresServer, postgres_server
from tests.table_cli import table_pipeline

pytestmark = pytest.mark.slow

GIVE_UP_AFTER = 5.0  # shorter than either outage: a transient fault must not run it down
OUTAGE = 12.0  # the catalog stopped mid-run, with writes going on


@pytest.fixture()
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path) as server:
        yield server


def test_table_consumer_rides_out_its_postgres_catalog_stopped(
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    tmp_path: Path,
    postgres: PostgresServer,
) -> None:
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES, postgres.uri)
    try:
        producer = pipeline.start_producer()
        publishing(producer)
        postgres.stop()
        consumer = pipeline.start_consumer("--give-up-after", str(GIVE_UP_AFTER))
        wait_for(
            lambda: tables_reasons(consumer.health()[1]),
            "the consumer to report the catalog down at start",
            60,
        )
        at_start = health_during(consumer, GIVE_UP_AFTER + 2)
        postgres.start()
        committed = wait_for(
            lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED) or None,
            "a first commit once the catalog is up",
        )

        writes, counts = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 23)
        wait_for(
            lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED, 0) > committed,
            "a commit of the new writes",
        )
        postgres.stop()
        mid_run = health_during(consumer, OUTAGE)
        writing_through_the_outage = writes.is_alive()
        postgres.start()
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        assert writing_through_the_outage, "the writes ended before the catalog came back"

        summary = tables_arrive(pipeline, postgres.uri, producer, consumer)
        all_alive(producer, consumer)
        status, body = consumer.health()
        assert status == 200 and not tables_reasons(body), body
        stop_ok(producer, consumer)
    finally:
        pipeline.kill_all()
    opening = {r for body in at_start for r in tables_reasons(body)}
    flushing = {r for body in mid_run for r in tables_reasons(body)}
    print(f"catalog down at start: {sorted(opening)}\nstopped mid-run: {sorted(flushing)}")
    for phase, seen in (("at start", at_start), ("mid-run", mid_run)):
        statuses = {body.get("status") for body in seen}
        assert "degraded" in statuses and statuses <= {"ok", "degraded"}, (
            f"health {statuses} while the catalog was down {phase}"
        )
    assert any(
        r.startswith("tables: opening Iceberg table") and f"{postgres.user}:***@" in r
        for r in opening
    ), opening
    assert flushing, f"health never showed the catalog stopped mid-run: {mid_run}"
    for text in (*opening, *flushing, consumer.output()):
        assert postgres.password not in text, "the catalog's password was printed"
    assert " 0 duplicate events" in summary, summary


def tables_reasons(body: dict[str, Any]) -> list[str]:
    """The reasons a `/healthz` body gives against the tables."""
    return [r for r in body.get("reasons", []) if r.startswith("tables: ")]


def health_during(service: Service, seconds: float) -> list[dict[str, Any]]:
    """Every `/healthz` body seen within `seconds`; fails as soon as the service has exited."""
    deadline, bodies = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        all_alive(service)
        bodies.append(service.health()[1])
        time.sleep(0.2)
    all_alive(service)
    return bodies


def test_a_catalog_that_refuses_the_login_stops_the_consumer_with_the_fix(
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    tmp_path: Path,
    postgres: PostgresServer,
) -> None:
    """A wrong password is permanent, not an outage: one line with the fix, exit 1, at once."""
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES, postgres.uri)
    wrong = postgres.uri.replace(postgres.password, "not-the-password")
    result = cli.run(
        *pipeline.consumer_args("--exit-when-idle", "--catalog-uri", wrong),
        timeout=120,
        check=False,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    print(result.stderr)
    assert result.returncode == 1, result.stderr
    assert len(errors) == 1, result.stderr
    assert "password authentication failed" in errors[0], errors
    assert "--catalog-uri" in errors[0] and f"{postgres.user}:***@" in errors[0], errors
    assert "not-the-password" not in result.stdout + result.stderr
