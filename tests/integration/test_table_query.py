"""`chinook-pipeline query --table` on real parts (Tansu, moto S3, a SQLite catalog): after a
table consumer run, the views over the Iceberg tables answer what the database holds. (After
kills mid-flush and `iceberg maintain`, with Spark's reads: integration/test_spark_reads_tables.py.)
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_shared.changes import FIELD_NAMES
from tests.conftest import Cli, customer_rows
from tests.integration.test_table_consumer import BATCHES, CUSTOMERS
from tests.table_cli import CHANGES, STATE, catalog_uri, query_tables, table_pipeline

pytestmark = pytest.mark.slow

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
    """`query` over the tables cataloged in `directory`."""
    return query_tables(cli, catalog_uri(directory), *tables, sql=sql)


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
