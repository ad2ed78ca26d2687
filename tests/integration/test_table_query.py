"""`chinook-pipeline query --table` on real parts (Tansu, moto S3, a SQLite catalog): after a
table consumer run, the views over the Iceberg tables answer what the database holds; after
kills mid-flush and `iceberg maintain`, so do `iceberg verify` and DuckDB over the files."""

import json
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_shared import names
from chinook_shared.changes import FIELD_NAMES
from chinook_shared.iceberg.catalog import CatalogSettings, open_catalog
from chinook_shared.s3 import S3Settings
from tests.conftest import Cli, customer_rows
from tests.faults.processes import kill_repeatedly, start_writes
from tests.faults.scenario import SEED, assigned, publishing, stop_ok
from tests.integration.test_iceberg_state_table import duckdb_state
from tests.integration.test_table_consumer import BATCHES, CUSTOMERS
from tests.table_cli import CHANGES, STATE, catalog_uri, table_pipeline, verify_tables_ok

pytestmark = pytest.mark.slow

FAST_BATCHES = ("--flush-records", "50", "--flush-age", "0.3")  # commits most of the time
COUNTRIES = "SELECT country, count(*) AS n FROM customers GROUP BY country"


@pytest.fixture()
def replicated_db(cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path) -> Path:
    """A database whose snapshot, updates and deletes went through a table consumer run."""
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, CUSTOMERS, BATCHES)
    db = pipeline.db
    pipeline.produce_all()
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("UPDATE Customer SET Country = 'Norway' WHERE CustomerId % 7 = 0")
        connection.execute("DELETE FROM Customer WHERE CustomerId % 11 = 0")
    pipeline.produce_all()
    pipeline.consume_all()
    return db


def query(cli: Cli, directory: Path, *tables: str, sql: str) -> list[dict[str, object]]:
    result = cli.run(
        "query", *tables, "--catalog-uri", catalog_uri(directory), "--output", "json", sql
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_query_reads_the_tables_and_matches_the_database(
    cli: Cli, replicated_db: Path, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(replicated_db)) as connection:
        count = connection.execute("SELECT count(*) FROM Customer").fetchone()[0]
        countries = dict(connection.execute("SELECT Country, count(*) FROM Customer GROUP BY 1"))
    database = [tuple(row) for row in customer_rows(replicated_db)]
    columns = ", ".join(FIELD_NAMES)
    # From the state table, and derived from the change table as for objects: the same answers.
    for tables in (("--table", CHANGES, "--state-table", STATE), ("--table", CHANGES)):
        rows = query(cli, tmp_path, *tables, sql="SELECT count(*) AS n FROM customers")
        assert rows == [{"n": count}], tables
        by_country = query(cli, tmp_path, *tables, sql=COUNTRIES)
        assert {row["country"]: row["n"] for row in by_country} == countries, tables
        state = query(cli, tmp_path, *tables, sql=f"SELECT {columns} FROM customers ORDER BY 1")
        assert [tuple(row[name] for name in FIELD_NAMES) for row in state] == database, tables


def test_change_table_view_has_the_object_columns(
    cli: Cli, replicated_db: Path, tmp_path: Path
) -> None:
    rows = query(
        cli,
        tmp_path,
        "--table",
        CHANGES,
        sql="SELECT op, count(*) AS n, count(dt) AS dated, min(hour) >= 0 AS hour_ok, "
        "count(DISTINCT kafka_partition) > 0 AS partitioned FROM customer_changes "
        "GROUP BY op ORDER BY op",
    )
    assert [row["op"] for row in rows] == [
        "OPERATION_DELETE",
        "OPERATION_SNAPSHOT",
        "OPERATION_UPDATE",
    ]
    assert all(row["n"] == row["dated"] and row["hour_ok"] for row in rows), rows
    assert rows[1]["n"] == 300


def test_table_errors_are_one_line(cli: Cli, replicated_db: Path, tmp_path: Path) -> None:
    secret = "postgresql+psycopg2://chinook:planted-secret@127.0.0.1:1/catalog"
    down = cli.run("query", "--table", CHANGES, "--catalog-uri", secret, "SELECT 1", check=False)
    assert down.returncode == 1 and "cannot open the Iceberg catalog" in down.stderr, down.stderr
    assert "planted-secret" not in down.stderr + down.stdout
    uri = catalog_uri(tmp_path)
    gone = "chinook.no_such_table"
    missing = cli.run("query", "--table", gone, "--catalog-uri", uri, "SELECT 1", check=False)
    assert missing.returncode == 1 and f"table {gone} not found" in missing.stderr
    no_s3 = Cli({**cli.env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}, cli.cwd)
    unread = no_s3.run("query", "--table", CHANGES, "--catalog-uri", uri, "SELECT 1", check=False)
    assert unread.returncode == 1 and f"cannot read table {CHANGES}" in unread.stderr
    alone = cli.run("query", "--state-table", STATE, "SELECT 1", check=False)
    assert alone.returncode == 1 and "--state-table needs --table" in alone.stderr
    for result in (down, missing, unread, alone):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_reader_reads_the_state_exactly_after_kills_mid_flush_and_maintenance(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    """Consumers killed -9 at random instants while changes keep flushing (a kill inside the
    state table's commit leaves its data and delete files written but unreferenced), then
    `iceberg maintain` (compaction, orphans removed): `iceberg verify`, `query` and DuckDB over
    the Parquet files all read the database's state exactly."""
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, CUSTOMERS, FAST_BATCHES)
    db, uri = pipeline.db, catalog_uri(tmp_path)
    try:
        producer = pipeline.start_producer()
        publishing(producer)
        writes, counts = start_writes(db, 600, 120.0, SEED + 40)
        killed = kill_repeatedly(
            pipeline.start_consumer, 3, random.Random(SEED + 40), 2.0, assigned, writes.is_alive
        )
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        stop_ok(producer)
    finally:
        pipeline.kill_all()
    assert any(k.at_kill.get(names.CONSUMER_RECORDS_CONSUMED) for k in killed)
    pipeline.produce_all()
    pipeline.consume_all()
    maintain = ("iceberg", "maintain", "--catalog-uri", uri, "--table", STATE)
    maintained = cli.run(*maintain, "--older-than", "0s").stdout
    assert f"{STATE}: compacted the table" in maintained, maintained

    assert " 0 duplicate events" in verify_tables_ok(cli, db, uri)
    database = [tuple(row) for row in customer_rows(db)]
    columns = ", ".join(FIELD_NAMES)
    tables = ("--table", CHANGES, "--state-table", STATE)
    state = query(cli, tmp_path, *tables, sql=f"SELECT {columns} FROM customers ORDER BY 1")
    assert [tuple(row[name] for name in FIELD_NAMES) for row in state] == database
    table = open_catalog(CatalogSettings(uri=uri), S3Settings()).load_table(STATE)
    cities = {row[0]: row[FIELD_NAMES.index("city")] for row in database}
    assert {k: city for k, (_, city) in duckdb_state(table).items()} == cities
