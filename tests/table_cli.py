"""Test helpers for the consumer's table destination as a user runs it: the options of a
consumer writing both tables to a catalog, a seeded pipeline of such consumers,
`chinook-pipeline iceberg verify` and `chinook-pipeline query` over the tables."""

import json
import subprocess
from pathlib import Path

from chinook_pipeline.local import kafka
from tests.conftest import Cli
from tests.faults.processes import Pipeline

CHANGES = "chinook.customer_changes"
STATE = "chinook.customers"


def catalog_uri(directory: Path) -> str:
    """The SQLite catalog `directory`/iceberg.db, as `make dev` uses."""
    return f"sqlite:///{directory}/iceberg.db"


def table_options(catalog: str, bucket: str) -> tuple[str, ...]:
    """Write both tables, cataloged at the URI `catalog`, under s3://bucket/iceberg."""
    return (
        "--table",
        CHANGES,
        "--state-table",
        STATE,
        "--catalog-uri",
        catalog,
        "--warehouse",
        f"s3://{bucket}/iceberg",
    )


def table_pipeline(
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    directory: Path,
    customers: int,
    batches: tuple[str, ...],
    catalog: str | None = None,
) -> Pipeline:
    """A database of `customers` seeded in `directory` and the services of one scenario,
    consumers writing both tables (batched by the flush options `batches`), cataloged at the URI
    `catalog` (default: the SQLite catalog in `directory`)."""
    db = directory / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", str(customers))
    logs = directory / "logs"
    logs.mkdir()
    options = (*table_options(catalog or catalog_uri(directory), bucket), *batches)
    return Pipeline(
        cli, db, broker.bootstrap_servers, topic, bucket, logs, consumer_options=options
    )


def verify_tables(cli: Cli, db: Path, catalog: str) -> subprocess.CompletedProcess[str]:
    """`iceberg verify` of the tables cataloged at the URI `catalog` against the database."""
    return cli.run(
        "iceberg",
        "verify",
        "--db",
        str(db),
        "--table",
        STATE,
        "--catalog-uri",
        catalog,
        check=False,
    )


def verify_tables_ok(cli: Cli, db: Path, catalog: str) -> str:
    result = verify_tables(cli, db, catalog)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def query_tables(cli: Cli, catalog: str, *tables: str, sql: str) -> list[dict[str, object]]:
    """`chinook-pipeline query` of `sql` over the tables that the options `tables` name, cataloged at the
    URI `catalog`: its rows as JSON objects."""
    result = cli.run("query", *tables, "--catalog-uri", catalog, "--output", "json", sql)
    return [json.loads(line) for line in result.stdout.splitlines()]
