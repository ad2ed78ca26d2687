"""Spark reads the Iceberg tables: Iceberg's own Java implementation (the one Spark, Trino and
Athena go through) with the stock runtime and AWS bundle from Maven Central, S3FileIO on the test
S3 server, through Iceberg's JDBC catalog over the SQLite catalog and over the PostgreSQL one.

The tables are built once for the module by a real pipeline in two rounds (a snapshot, then
updates and deletes), each catalog by its own consumer group from the same topic. What Spark reads,
now and as of the first round's snapshots, must match `chinook-pipeline query` and the database;
its snapshots and history metadata tables must match what pyiceberg wrote.

Another pair of tables, also built once, went through consumers killed -9 mid-flush and then
`iceberg maintain`: `iceberg verify`, `query`, DuckDB over the Parquet files and Spark must all
read exactly the database's state there, and Spark the change table `query` reads. One driver
serves the module: each catalog gets a session of its own.
"""

import dataclasses
import random
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from sqlalchemy.engine import make_url

from chinook_pipeline.local import embedded, kafka
from chinook_shared import names
from chinook_shared.changes import FIELD_NAMES
from chinook_shared.iceberg.catalog import CatalogSettings, load_table, open_catalog
from chinook_shared.s3 import S3Settings
from tests.conftest import Cli, customer_rows, new_bucket, user_cli
from tests.faults.processes import kill_repeatedly, start_writes
from tests.faults.scenario import SEED, assigned, publishing, stop_ok
from tests.integration.test_iceberg_state_table import duckdb_rows
from tests.integration.test_table_consumer import BATCHES, CUSTOMERS
from tests.postgres import postgres_server
from tests.spark.jars import ensure_jars
from tests.spark.session import (
    CATALOG,
    catalog_properties,
    catalog_session,
    spark_name,
    start_spark,
    stop_spark,
)
from tests.table_cli import (
    CHANGES,
    STATE,
    catalog_uri,
    query_tables,
    table_options,
    table_pipeline,
    verify_tables_ok,
)

# The first test carries the module's set-up, two pipeline runs and a Spark JVM's start: 4 min
# 20 s of it measured on 2 cores at load average 20, near the suite's 300 s per test; the first
# test of the killed tables carries their scenario.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KINDS = ("sqlite", "postgresql")
# What `chinook-pipeline query` answers at each moment, in one run: the state table's count of
# each country, and the change table's count beside each.
COUNTRIES = (
    "SELECT country, count(*) AS n, (SELECT count(*) FROM customer_changes) AS changes "
    "FROM customers GROUP BY country"
)
# The columns of the snapshots and history metadata tables, timestamps in epoch milliseconds.
SNAPSHOTS = (
    "unix_millis(committed_at) AS committed_at, snapshot_id, parent_id, operation, manifest_list, "
    "summary"
)
HISTORY = (
    "unix_millis(made_current_at) AS made_current_at, snapshot_id, parent_id, is_current_ancestor"
)
BOTH_TABLES = ("--table", CHANGES, "--state-table", STATE)  # query's options: its two views
FAST_BATCHES = ("--flush-records", "50", "--flush-age", "0.3")  # commits most of the time
# Each event of the change table by its Kafka record; FROM the table in {}.
EVENTS = "SELECT kafka_partition, kafka_offset, sequence, op FROM {} ORDER BY 1, 2"


@dataclasses.dataclass(frozen=True)
class Moment:
    """The tables' current snapshots at one point, and what the database and `chinook-pipeline
    query` answered then."""

    snapshots: dict[str, int]  # table name -> snapshot id
    database_countries: dict[str, int]
    query_countries: dict[str, int]
    query_changes: int


@dataclasses.dataclass(frozen=True)
class Cataloged:
    """Both tables in one catalog: pyiceberg's URI of it, their warehouse."""

    uri: str
    warehouse: str

    def table(self, name: str) -> Table:
        return load_table(open_catalog(CatalogSettings(uri=self.uri), S3Settings()), name)

    def spark_catalog(self, s3: embedded.S3Server, name: str = CATALOG) -> dict[str, str]:
        """The Spark properties of a catalog `name` over this one."""
        region = s3.env["AWS_DEFAULT_REGION"]
        return catalog_properties(self.uri, self.warehouse, s3.endpoint_url, region, name)

    def state_snapshot(self) -> int:
        """The state table's current snapshot id."""
        current = self.table(STATE).current_snapshot()
        assert current is not None
        return current.snapshot_id


@dataclasses.dataclass(frozen=True)
class Tables(Cataloged):
    """The tables at two moments, and the database's Customer rows now."""

    earlier: Moment
    now: Moment
    database: list[tuple[object, ...]]


@dataclasses.dataclass(frozen=True)
class KilledTables(Cataloged):
    """The tables after kills mid-flush, their state table's current snapshot then, a user's
    CLI beside the database, and the database's Customer rows."""

    snapshot: int
    cli: Cli
    db: Path
    database: list[tuple[object, ...]]


@dataclasses.dataclass(frozen=True)
class Reader:
    """A Spark session whose catalog `default` is the tables' catalog."""

    spark: SparkSession
    tables: Tables

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(sql).collect()]

    def countries(self, table: str) -> dict[str, int]:
        rows = self.rows(f"SELECT country, count(*) AS n FROM {table} GROUP BY country")
        return {row["country"]: row["n"] for row in rows}

    def count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"]


@pytest.fixture(scope="module")
def s3_module_env(s3_server: embedded.S3Server) -> Iterator[dict[str, str]]:
    """The test S3 server's AWS environment in this process for the module: pyiceberg reads with
    it, and Spark's JVM inherits it (the AWS SDK's default credential chain)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_server.env.items():
            patch.setenv(key, value)
        yield s3_server.env


@pytest.fixture(scope="module")
def tables(
    s3_module_env: dict[str, str],
    broker: kafka.Cluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Tables]]:
    directory = tmp_path_factory.mktemp("spark-tables")
    cli = user_cli(s3_module_env, directory)
    topic = f"chinook.customers.{uuid.uuid4().hex[:8]}"
    buckets = {kind: new_bucket() for kind in KINDS}
    with postgres_server(directory) as postgres:
        uris = {"sqlite": catalog_uri(directory), "postgresql": postgres.uri}
        first = table_pipeline(cli, broker, topic, buckets["sqlite"], directory, CUSTOMERS, BATCHES)
        second = dataclasses.replace(
            first,
            bucket=buckets["postgresql"],
            group=f"{topic}-postgresql",
            logs=directory / "logs-postgresql",
            consumer_options=(*table_options(postgres.uri, buckets["postgresql"]), *BATCHES),
        )
        pipelines = {"sqlite": first, "postgresql": second}

        def load() -> dict[str, Moment]:
            """Publish what the database holds, and both consumers commit it, side by side."""
            first.produce_all()
            consumers = [p.start_consumer("--exit-when-idle") for p in pipelines.values()]
            try:
                for consumer in consumers:
                    assert consumer.process.wait(300) == 0, consumer.output()
            finally:
                for pipeline in pipelines.values():
                    pipeline.kill_all()
            return {kind: moment(cli, first.db, uris[kind]) for kind in KINDS}

        earlier = load()
        with closing(sqlite3.connect(first.db)) as connection, connection:
            connection.execute("UPDATE Customer SET Country = 'Norway' WHERE CustomerId % 7 = 0")
            connection.execute("DELETE FROM Customer WHERE CustomerId % 11 = 0")
        now = load()
        database = customer_rows(first.db)
        yield {
            kind: Tables(
                uris[kind], f"s3://{buckets[kind]}/iceberg", earlier[kind], now[kind], database
            )
            for kind in KINDS
        }


def moment(cli: Cli, db: Path, uri: str) -> Moment:
    catalog = open_catalog(CatalogSettings(uri=uri), S3Settings())
    snapshots = {}
    for name in (CHANGES, STATE):
        current = load_table(catalog, name).current_snapshot()
        assert current is not None, name
        snapshots[name] = current.snapshot_id
    with closing(sqlite3.connect(db)) as connection:
        countries = dict(connection.execute("SELECT Country, count(*) FROM Customer GROUP BY 1"))
    by_country = query_tables(cli, uri, *BOTH_TABLES, sql=COUNTRIES)
    return Moment(
        snapshots,
        countries,
        {row["country"]: row["n"] for row in by_country},
        by_country[0]["changes"],
    )


@pytest.fixture(scope="module")
def spark(
    s3_module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkSession]:
    session = start_spark(ensure_jars(), tmp_path_factory.mktemp("spark"))
    yield session
    stop_spark(session)


@pytest.fixture(scope="module", params=KINDS)
def reader(
    request: pytest.FixtureRequest,
    spark: SparkSession,
    tables: dict[str, Tables],
    s3_server: embedded.S3Server,
) -> Reader:
    chosen = tables[request.param]
    return Reader(catalog_session(spark, chosen.spark_catalog(s3_server)), chosen)


def test_spark_reads_both_tables_as_query_and_the_database_do(reader: Reader) -> None:
    now = reader.tables.now
    assert reader.count(spark_name(STATE)) == len(reader.tables.database)
    assert reader.countries(spark_name(STATE)) == now.query_countries == now.database_countries
    assert reader.count(spark_name(CHANGES)) == now.query_changes
    columns = ", ".join(FIELD_NAMES)
    rows = reader.spark.sql(f"SELECT {columns} FROM {spark_name(STATE)} ORDER BY 1").collect()
    assert [tuple(row) for row in rows] == reader.tables.database


def test_spark_travels_to_an_earlier_snapshot(reader: Reader) -> None:
    earlier, now = reader.tables.earlier, reader.tables.now
    assert earlier.database_countries != now.database_countries  # the rounds differ
    state = f"{spark_name(STATE)} VERSION AS OF {earlier.snapshots[STATE]}"
    assert reader.countries(state) == earlier.query_countries == earlier.database_countries
    changes = f"{spark_name(CHANGES)} VERSION AS OF {earlier.snapshots[CHANGES]}"
    assert reader.count(changes) == earlier.query_changes < now.query_changes


@pytest.mark.parametrize("name", [CHANGES, STATE])
def test_spark_sees_the_snapshots_and_history_pyiceberg_wrote(reader: Reader, name: str) -> None:
    table = reader.tables.table(name)
    snapshots = reader.rows(f"SELECT {SNAPSHOTS} FROM {spark_name(name)}.snapshots")
    written = millis(table.inspect.snapshots(), "committed_at")
    for row in written:
        row["summary"] = dict(row["summary"] or [])
    key = itemgetter("committed_at", "snapshot_id")
    assert sorted(snapshots, key=key) == sorted(written, key=key)
    history = reader.rows(f"SELECT {HISTORY} FROM {spark_name(name)}.history")
    assert history == millis(table.inspect.history(), "made_current_at")
    ids = [row["snapshot_id"] for row in history]
    assert reader.tables.earlier.snapshots[name] in ids
    assert ids[-1] == reader.tables.now.snapshots[name]


def millis(rows: pa.Table, column: str) -> list[dict[str, Any]]:
    """`rows` as dicts, the timestamp `column` in milliseconds since the epoch, as Spark's
    unix_millis gives it."""
    index = rows.schema.get_field_index(column)
    return rows.set_column(index, column, rows[column].cast(pa.int64())).to_pylist()


def test_a_spark_catalog_named_otherwise_sees_no_table(
    reader: Reader, spark: SparkSession, s3_server: embedded.S3Server
) -> None:
    """Iceberg's JDBC catalog keys its rows by its own name: the Spark catalog must be named as
    pyiceberg's (`default`, or the consumer's --catalog-name), not as one likes."""
    session = catalog_session(spark, reader.tables.spark_catalog(s3_server, "elsewhere"))
    assert session.sql("SHOW NAMESPACES IN elsewhere").collect() == []
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        session.table(f"elsewhere.{STATE}")


@pytest.fixture(scope="module")
def killed_tables(
    s3_module_env: dict[str, str],
    broker: kafka.Cluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> KilledTables:
    """Consumers killed -9 at random instants while changes keep flushing (a kill inside the
    state table's commit leaves its data and delete files written but unreferenced), then the
    rest consumed."""
    directory = tmp_path_factory.mktemp("killed-tables")
    cli = user_cli(s3_module_env, directory)
    topic, bucket = f"chinook.customers.{uuid.uuid4().hex[:8]}", new_bucket()
    pipeline = table_pipeline(cli, broker, topic, bucket, directory, CUSTOMERS, FAST_BATCHES)
    db = pipeline.db
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
    written = Cataloged(catalog_uri(directory), f"s3://{bucket}/iceberg")
    snapshot = written.state_snapshot()
    return KilledTables(written.uri, written.warehouse, snapshot, cli, db, customer_rows(db))


@pytest.fixture(scope="module")
def maintained_tables(killed_tables: KilledTables) -> KilledTables:
    """The killed tables after `iceberg maintain` (compaction, orphans removed)."""
    tables = killed_tables
    maintain = ("iceberg", "maintain", "--catalog-uri", tables.uri, "--table", STATE)
    maintained = tables.cli.run(*maintain, "--older-than", "0s").stdout
    assert f"{STATE}: compacted the table" in maintained, maintained
    return dataclasses.replace(tables, snapshot=tables.state_snapshot())


# In this order: the maintained tables are the killed ones, maintained.
@pytest.mark.parametrize(
    "stage", ["killed_tables", "maintained_tables"], ids=["after-kills", "after-maintain"]
)
def test_every_reader_reads_both_tables_exactly_after_kills_mid_flush_and_maintenance(
    stage: str,
    request: pytest.FixtureRequest,
    spark: SparkSession,
    s3_server: embedded.S3Server,
    tmp_path: Path,
) -> None:
    """After the kills, then after `iceberg maintain`: `iceberg verify` passes, and `query`,
    DuckDB over the Parquet files and Spark read every column of every live customer from the
    state table as the database holds it. From the change table Spark reads every event `query`
    reads, each once, and they fold (each customer's latest event, unless a delete) to the
    database's state."""
    tables: KilledTables = request.getfixturevalue(stage)
    assert tables.state_snapshot() == tables.snapshot, "maintained already: tests out of order"
    assert " 0 duplicate events" in verify_tables_ok(tables.cli, tables.db, tables.uri)
    columns = ", ".join(FIELD_NAMES)
    state = query_tables(
        tables.cli, tables.uri, *BOTH_TABLES, sql=f"SELECT {columns} FROM customers ORDER BY 1"
    )
    assert [tuple(row[name] for name in FIELD_NAMES) for row in state] == tables.database
    assert duckdb_rows(tables.table(STATE), FIELD_NAMES) == tables.database

    # Spark's JDBC catalog holds the SQLite catalog's lock for as long as it is open (a writer's
    # commit then fails "database is locked"), which would stop `iceberg maintain`: Spark reads
    # a copy of the catalog, the same rows naming the same metadata files.
    shutil.copy(str(make_url(tables.uri).database), tmp_path / "iceberg.db")
    copy = dataclasses.replace(tables, uri=catalog_uri(tmp_path))
    session = catalog_session(spark, copy.spark_catalog(s3_server))
    read = session.sql(f"SELECT {columns} FROM {spark_name(STATE)} ORDER BY 1").collect()
    assert [tuple(row) for row in read] == tables.database
    events = [row.asDict() for row in session.sql(EVENTS.format(spark_name(CHANGES))).collect()]
    sql = EVENTS.format("customer_changes")
    assert events == query_tables(tables.cli, tables.uri, "--table", CHANGES, sql=sql)
    assert len({(row["kafka_partition"], row["kafka_offset"]) for row in events}) == len(events)
    after = ", ".join(f"`after`.{name}" for name in FIELD_NAMES)
    latest = (
        "SELECT op, `after`, row_number() OVER (PARTITION BY customer_id ORDER BY sequence DESC) "
        f"AS newest FROM {spark_name(CHANGES)}"
    )
    folded = session.sql(
        f"SELECT {after} FROM ({latest}) WHERE newest = 1 AND op <> 'OPERATION_DELETE' ORDER BY 1"
    ).collect()
    assert [tuple(row) for row in folded] == tables.database
