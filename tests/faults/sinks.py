"""One topic, two destinations: a group of consumers writing objects and a group writing both
Iceberg tables, fed by one producer from one database, so one broker fault is felt by both at
once. Ends checked by `chinook-pipeline verify` and `chinook-pipeline iceberg verify`."""

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.processes import Pipeline, Service
from tests.faults.scenario import arrives
from tests.faults.test_table_faults import tables_arrive
from tests.table_cli import catalog_uri, table_options, verify_tables

OBJECT_BATCHES = ("--flush-records", "200", "--flush-age", "0.3")
TABLE_BATCHES = ("--flush-records", "100", "--flush-age", "0.5")


@dataclass
class Sinks:
    objects: Pipeline
    tables: Pipeline
    catalog: str

    def start_consumers(self, each: int) -> list[Service]:
        """`each` consumers in each group: objects first, then tables."""
        objects = [self.objects.start_consumer() for _ in range(each)]
        return objects + [self.tables.start_consumer() for _ in range(each)]

    def arrive(self, *services: Service) -> dict[str, float]:
        """Wait (bounded) until both destinations hold every change exactly once while the
        services run; seconds each took from this call."""
        started, took = time.monotonic(), {}
        summary = arrives(self.objects, *services)
        took["objects"] = time.monotonic() - started
        tables = tables_arrive(self.tables, self.catalog, *services)
        took["tables"] = time.monotonic() - started
        assert " 0 duplicate events" in summary, summary
        assert " 0 duplicate events" in tables, tables
        return took

    def verify_ok(self, context: str = "") -> None:
        """Both destinations exact, no change twice; `context` (the run's figures) joins any
        failure's message."""
        objects = self.objects.verify()
        assert objects.returncode == 0, f"{objects.stdout}{objects.stderr}\n{context}"
        assert " 0 duplicate events" in objects.stdout, f"{objects.stdout}\n{context}"
        tables = verify_tables(self.objects.cli, self.objects.db, self.catalog)
        assert tables.returncode == 0, f"{tables.stdout}{tables.stderr}\n{context}"
        assert " 0 duplicate events" in tables.stdout, f"{tables.stdout}\n{context}"

    def kill_all(self) -> None:
        self.objects.kill_all()
        self.tables.kill_all()


def both_sinks(
    cli: Cli,
    bootstrap_servers: str,
    topic: str,
    s3_client: Any,
    directory: Path,
    customers: int,
    protocols: tuple[str, str] = ("classic", "classic"),
) -> Sinks:
    """A database of `customers` seeded in `directory`, and the two pipelines on `topic`, each
    with a bucket of its own (`verify` reads every object of its bucket) and its group's
    protocol (`protocols`: objects', tables'). The producer is started from either."""
    db = directory / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", str(customers))
    buckets = [f"test-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for bucket in buckets:
        s3_client.create_bucket(Bucket=bucket)
    catalog = catalog_uri(directory)

    def pipeline(bucket: str, sink: str, options: tuple[str, ...], protocol: str) -> Pipeline:
        logs = directory / "logs" / sink  # each pipeline numbers its services from 1
        logs.mkdir(parents=True)
        return Pipeline(
            cli,
            db,
            bootstrap_servers,
            topic,
            bucket,
            logs,
            group=f"{topic}-{sink}",
            consumer_options=options,
            group_protocol=protocol,
        )

    return Sinks(
        pipeline(buckets[0], "objects", OBJECT_BATCHES, protocols[0]),
        pipeline(
            buckets[1],
            "tables",
            (*table_options(catalog, buckets[1]), *TABLE_BATCHES),
            protocols[1],
        ),
        catalog,
    )


def assigned_partitions(service: Service) -> int:
    """How many partitions the consumer owns now (its gauge, updated once a second)."""
    return int(service.metrics().get(names.CONSUMER_ASSIGNED_PARTITIONS, 0))


def owning(*services: Service) -> None:
    """Wait until every one of the consumers owns partitions (each group has settled)."""
    for service in services:
        wait_for(
            lambda s=service: assigned_partitions(s) or not s.running(),
            f"{service.name} to own partitions",
        )
