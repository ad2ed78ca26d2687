"""`consumer --exit-when-idle` as a batch job trusts it, on a real Kafka broker and moto S3.

Members of the group are killed -9 at random instants, then one holds partitions with records
it has not flushed; an `--exit-when-idle` run beside it must not exit 0 while those partitions
are short of their end: it waits (`degraded`, naming them), gives up after `--held-timeout`
with one line listing them (checked once, for objects: the code is the sinks'), and, once the
holder is killed -9 and its session has timed out, drains them too, so that the sink verifies
exact the moment it exits 0. Objects and tables.

And a dependency that never answers at start (S3, an Iceberg catalog, each at a closed port)
ends the run within `--start-timeout` with one line naming it, as an unreachable broker does.
"""

import random
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_shared import names
from tests.conftest import Cli, consumer_command, wait_for
from tests.faults.processes import Pipeline, Service, kill_repeatedly, start_writes
from tests.faults.scenario import assigned, publishing, stop_ok
from tests.table_cli import catalog_uri, table_pipeline, verify_tables_ok

CUSTOMERS = 3_000
WRITES = 300  # inserts, updates and deletes applied while members are killed
WRITE_SECONDS = 4.0
CHANGES = 300  # published after the kills: what the holder keeps unflushed
KILLS = 2  # at least, and for as long as the writes go on
MAX_LIFETIME = 2.0  # a killed member dies uniformly within this many seconds of working
SEED = 1717
HOLD = ("--flush-age", "3600", "--flush-records", "1000000")  # flushes nothing by itself
# Kafka's smallest session timeout (group.min.session.timeout.ms): a killed member's partitions
# come back after it (tests.faults.processes.FAST_GROUP asks for less, which Kafka refuses).
SESSION = (
    "--kafka-property",
    "session.timeout.ms=6000",
    "--kafka-property",
    "heartbeat.interval.ms=1000",
)
HELD = re.compile(r"partitions \[\d(, \d)*\] of topic \S+ are short of their end, held by other")


@pytest.fixture(params=["objects", "tables"])
def pipeline(
    request: pytest.FixtureRequest,
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    tmp_path: Path,
) -> Iterator[Pipeline]:
    """A seeded database and the consumers of one sink, batching as in the report (1 s)."""
    batches = ("--flush-age", "1")
    if request.param == "tables":
        running = table_pipeline(cli, broker, topic, bucket, tmp_path, CUSTOMERS, batches)
    else:
        db = tmp_path / "chinook.db"
        cli.run("seed", "--db", str(db), "--customers", str(CUSTOMERS))
        (tmp_path / "logs").mkdir()
        running = Pipeline(
            cli, db, broker.bootstrap_servers, topic, bucket, tmp_path / "logs",
            consumer_options=batches,
        )  # fmt: skip
    running.consumer_options = (*running.consumer_options, *SESSION)
    try:
        yield running
    finally:
        running.kill_all()


def tables(pipeline: Pipeline) -> bool:
    return "--table" in pipeline.consumer_options


def verify_exact(pipeline: Pipeline, tmp_path: Path) -> str:
    if tables(pipeline):
        return verify_tables_ok(pipeline.cli, pipeline.db, catalog_uri(tmp_path))
    return pipeline.verify_ok()


def holding(service: Service) -> bool:
    """Owns every partition, has fetched to their ends and holds records unflushed."""
    metrics = service.metrics()
    return (
        metrics.get(names.CONSUMER_ASSIGNED_PARTITIONS) == 6
        and metrics.get(names.CONSUMER_LAG, -1) == 0
        and metrics.get(names.CONSUMER_BUFFERED_RECORDS, 0) > 0
    )


def reasons(service: Service) -> str:
    return str(service.health()[1].get("reasons", ""))


def test_exit_when_idle_waits_for_partitions_other_members_hold(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    producer = pipeline.start_producer()
    publishing(producer)
    writes, counts = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED)
    killed = kill_repeatedly(
        pipeline.start_consumer,
        KILLS,
        random.Random(SEED),
        MAX_LIFETIME,
        assigned,
        keep_going=writes.is_alive,
    )
    writes.join()
    stop_ok(producer)
    more, _ = start_writes(pipeline.db, CHANGES, 1e6, SEED + 1)  # for the holder to keep
    more.join()
    pipeline.produce_all()
    holder = pipeline.start_consumer(*HOLD)
    wait_for(lambda: holding(holder), "the holder to own every partition and hold records", 60)

    if not tables(pipeline):  # the same code for both sinks: once is enough
        # Past the bound without progress: one line listing the partitions, non-zero.
        bounded = pipeline.cli.run(
            *pipeline.consumer_args("--exit-when-idle", "--held-timeout", "3"), check=False
        )
        errors = [line for line in bounded.stderr.splitlines() if line.startswith("Error:")]
        assert bounded.returncode != 0, bounded.stderr
        assert len(errors) == 1 and HELD.search(errors[0]), bounded.stderr[-3000:]
        assert "none has moved for" in errors[0]

    # Within the bound: drains its share, then waits, degraded naming the holder's partitions;
    # the holder is killed -9 meanwhile and its partitions come back at its session timeout.
    run = pipeline.start_consumer("--exit-when-idle")
    wait_for(
        lambda: (
            (
                run.metrics().get(names.CONSUMER_ASSIGNED_PARTITIONS) == 3
                and HELD.search(reasons(run))
            )
            or not run.running()
        ),
        "the --exit-when-idle run to own its share and wait for the holder's partitions",
        60,
    )
    assert run.running(), f"exited {run.process.returncode} early:\n{run.output()[-3000:]}"
    assert run.health()[1]["status"] == "degraded"
    holder.kill()
    started = time.monotonic()
    returncode = run.process.wait(timeout=120)
    assert returncode == 0, run.output()[-4000:]
    summary = verify_exact(pipeline, tmp_path)
    assert " 0 duplicate events" in summary, summary
    consumed = [k.at_kill.get(names.CONSUMER_RECORDS_CONSUMED, 0) for k in killed]
    assert any(consumed), "no kill hit a member that had consumed records"
    print(
        f"{counts}; records consumed by each killed member: {consumed}; the run exited "
        f"{time.monotonic() - started:.1f}s after the holder's kill"
    )


def test_an_s3_endpoint_that_never_answers_ends_the_start(
    cli: Cli, broker: kafka.Cluster, topic: str
) -> None:
    closed = f"http://127.0.0.1:{embedded.free_port()}"
    error, _ = failed_start(cli, broker, topic, "--bucket", "eval-x", "--s3-endpoint-url", closed)
    assert f"checking bucket eval-x at {closed} has failed since the start" in error
    assert "--s3-endpoint-url" in error


def test_a_catalog_that_never_answers_ends_the_start(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str
) -> None:
    closed = f"postgresql+psycopg2://chinook:s3cret-pw@127.0.0.1:{embedded.free_port()}/iceberg"
    table = ("--table", "chinook.customer_changes", "--warehouse", f"s3://{bucket}/iceberg")
    error, result = failed_start(cli, broker, topic, *table, "--catalog-uri", closed)
    assert "opening Iceberg table chinook.customer_changes has failed since the start" in error
    assert "--catalog-uri" in error
    assert "s3cret-pw" not in result.stderr + result.stdout


def failed_start(
    cli: Cli, broker: kafka.Cluster, topic: str, *sink: str
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """A consumer run whose sink never answers, given 3 s to start: it exits non-zero with one
    `Error:` line, returned with the run."""
    command = consumer_command(broker, topic, *sink, "--exit-when-idle", "--start-timeout", "3")
    result = cli.run(*command, check=False, timeout=60)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode != 0
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0], result
