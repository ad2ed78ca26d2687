"""The Iceberg sink of `chinook-pipeline dev`: the same topic written a third way, as tables.

Kafka hands every record to every consumer group, so the sink is one more `chinook-pipeline
consumer` process, in a group of its own (`chinook-table-sink`), writing the change table and the
state table to a SQLite catalog in the data directory, with their files in a bucket of their own
(`chinook-lake`, as in compose), so that no tool reading the objects ever meets a table's files.
The other sinks and their guarantees are untouched.

The catalog and the files live and die together: the S3 server keeps its data in memory, so each
run starts with an empty bucket, and `dev` removes the catalog of an earlier run, which points to
files that are gone, at start (`catalog_files`).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click

from chinook_pipeline.local import kafka
from chinook_pipeline.local.processes import Child
from chinook_pipeline.local.settings import DevSettings
from chinook_pipeline.tools.verify import VerifyReport

GROUP: Final = "chinook-table-sink"
CHANGES: Final = "chinook.customer_changes"
STATE: Final = "chinook.customers"
TABLES_BUCKET: Final = "chinook-lake"
CATALOG: Final = "iceberg.db"  # in the data directory, beside the database
SQLITE_FILES: Final = ("", "-journal", "-wal", "-shm")  # a SQLite database's file and companions
FLUSH_AGE: Final = 10.0  # fresher than the 30 s default, for a demo; each flush is a commit
CATCH_UP_TIMEOUT: Final = 60.0


@dataclass
class TableSink:
    child: Child
    catalog: Path
    group: str = GROUP
    warehouse: str = f"s3://{TABLES_BUCKET}/iceberg"

    @property
    def catalog_uri(self) -> str:
        return sqlite_uri(self.catalog)

    @classmethod
    def start(
        cls, settings: DevSettings, broker: kafka.Cluster, log_dir: Path, s3_client: Any
    ) -> "TableSink":
        """Create the tables' bucket (the S3 server starts empty) and start the consumer."""
        s3_client.create_bucket(Bucket=TABLES_BUCKET)
        catalog = catalog_path(settings)
        args = [
            *("consumer", "--bootstrap-servers", broker.bootstrap_servers),
            *("--topic", settings.topic, "--group-id", GROUP),
            *("--table", CHANGES, "--state-table", STATE, "--catalog-uri", sqlite_uri(catalog)),
            *("--warehouse", cls.warehouse, "--flush-age", str(FLUSH_AGE)),
        ]
        return cls(Child.start("consumer-tables", args, log_dir, metrics=True), catalog)

    def finish(self, settings: DevSettings) -> VerifyReport | None:
        """Once the producer has stopped: wait until the sink has read the whole topic, stop it
        (SIGTERM: flush, commit) and verify the tables against the database; None when the sink
        died or the tables cannot be read."""
        from chinook_pipeline.tools.verify_tables import verify_tables
        from chinook_shared.errors import PipelineError
        from chinook_shared.iceberg.catalog import CatalogSettings, load_table, open_catalog
        from chinook_shared.s3 import S3Settings

        if not self.child.catch_up(CATCH_UP_TIMEOUT):
            click.echo(f"error: the table consumer exited; its log is {self.child.log}", err=True)
            return None
        self.child.stop()
        try:
            catalog = open_catalog(CatalogSettings(uri=self.catalog_uri), S3Settings())
            tables = load_table(catalog, STATE), load_table(catalog, CHANGES)
        except PipelineError as error:
            click.echo(f"error: {error}", err=True)
            return None
        return verify_tables(settings.db, *tables)


def catalog_path(settings: DevSettings) -> Path:
    return settings.db.parent / CATALOG


def catalog_files(settings: DevSettings) -> list[Path]:
    """The SQLite catalog's file and its companions (journal, write-ahead log)."""
    catalog = catalog_path(settings)
    return [catalog.with_name(catalog.name + suffix) for suffix in SQLITE_FILES]


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"
