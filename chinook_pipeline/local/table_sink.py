"""The Iceberg sink of `chinook-pipeline dev`: the same topic written a third way, as tables.

Kafka hands every record to every consumer group, so the sink is one more `chinook-pipeline
consumer` process, in a group of its own (`chinook-table-sink`), writing the change table and the
state table to a SQLite catalog in the data directory, with their files under `iceberg/` in the
bucket. The other sinks and their guarantees are untouched.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.options import DevOptions
from chinook_pipeline.local.processes import Child
from chinook_pipeline.tools.verify import VerifyReport

GROUP: Final = "chinook-table-sink"
CHANGES: Final = "chinook.customer_changes"
STATE: Final = "chinook.customers"
FLUSH_AGE: Final = 10.0  # fresher than the 30 s default, for a demo; each flush is a commit
CATCH_UP_TIMEOUT: Final = 60.0


@dataclass
class TableSink:
    child: Child
    catalog_uri: str

    @classmethod
    def start(cls, options: DevOptions, broker: kafka.Cluster, log_dir: Path) -> "TableSink":
        catalog_uri = f"sqlite:///{(options.db.parent / 'iceberg.db').resolve()}"
        args = [
            *("consumer", "--bootstrap-servers", broker.bootstrap_servers),
            *("--topic", options.topic, "--group-id", GROUP, "--bucket", options.bucket_name),
            *("--table", CHANGES, "--state-table", STATE, "--catalog-uri", catalog_uri),
            *("--warehouse", f"s3://{options.bucket_name}/iceberg"),
            *("--flush-age", str(FLUSH_AGE)),
        ]
        return cls(Child.start("consumer-tables", args, log_dir, metrics=True), catalog_uri)

    def banner(self, s3: embedded.S3Server) -> str:
        """Where the tables are, and how to read them while dev runs."""
        region = s3.env["AWS_DEFAULT_REGION"]
        env = (  # the region too: pyiceberg looks it up against the bucket otherwise (slow)
            f"AWS_ENDPOINT_URL_S3={s3.endpoint_url} AWS_DEFAULT_REGION={region} "
            "AWS_ACCESS_KEY_ID=chinook-local AWS_SECRET_ACCESS_KEY=chinook-local-secret"
        )
        read = (
            "from pyiceberg.catalog.sql import SqlCatalog; "
            f"c = SqlCatalog('default', uri='{self.catalog_uri}', "
            f"**{{'s3.endpoint': '{s3.endpoint_url}', 's3.region': '{region}'}}); "
            f"print(c.load_table('{STATE}').scan(limit=10).to_arrow().to_pylist())"
        )
        return (
            f"  tables     {CHANGES} and {STATE} (group {GROUP}), catalog {self.catalog_uri}\n"
            f'             read: {env} python -c "{read}"\n'
            f"             query: {env} chinook-pipeline query --table {CHANGES} "
            f"--state-table {STATE} --catalog-uri {self.catalog_uri} "
            '"select count(*) from customers"\n'
            f"             check: {env} chinook-pipeline iceberg verify --db DB --table {STATE} "
            f"--catalog-uri {self.catalog_uri}"
        )

    def finish(self, options: DevOptions) -> VerifyReport | None:
        """Once the producer has stopped: wait until the sink has read the whole topic, stop it
        (SIGTERM: flush, commit) and verify the tables against the database; None when the sink
        died or the tables cannot be read."""
        from chinook_pipeline.tools.verify_tables import verify_tables
        from shared.errors import PipelineError
        from shared.iceberg.catalog import CatalogSettings, load_table, open_catalog
        from shared.s3 import S3Settings

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
        return verify_tables(options.db, *tables)
