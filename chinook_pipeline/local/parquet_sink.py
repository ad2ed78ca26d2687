"""The Parquet sink of `chinook-pipeline dev`: the same topic written a second time, as Parquet.

Kafka hands every record to every consumer group, so the sink is one more `chinook-pipeline
consumer` process in a group of its own (`chinook-parquet-sink`) with its own journal: the
Protobuf objects and their guarantees are untouched. Its objects go under the `parquet/` prefix
of the same bucket, because engines such as Athena read every object under a table's location.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.processes import Child
from chinook_pipeline.tools.verify import VerifyReport, verify

if TYPE_CHECKING:
    from chinook_pipeline.local.dev import DevOptions

GROUP: Final = "chinook-parquet-sink"
PREFIX: Final = "parquet"
# Fewer, larger objects than the Protobuf sink's (dev flushes those every 2 s): a query opens
# every object it cannot rule out by its key, at a few requests each.
FLUSH_AGE: Final = 10.0
CATCH_UP_TIMEOUT: Final = 60.0
EXAMPLE: Final = "SELECT country, count(*) AS customers FROM customers GROUP BY ALL ORDER BY 2 DESC"


@dataclass
class ParquetSink:
    child: Child

    @classmethod
    def start(cls, options: "DevOptions", broker: kafka.Cluster, log_dir: Path) -> "ParquetSink":
        args = [
            *(
                "consumer",
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--topic",
                options.topic,
            ),
            *("--bucket", options.bucket_name, "--flush-age", str(FLUSH_AGE)),
            *("--format", "parquet", "--prefix", PREFIX, "--group-id", GROUP),
        ]
        return cls(Child.start("consumer-parquet", args, log_dir, metrics=True))

    def banner(self, options: "DevOptions", s3: embedded.S3Server) -> str:
        """How to find the Parquet objects, and a query to paste while dev runs."""
        return (
            f"  parquet    s3://{options.bucket_name}/{PREFIX}/{options.topic}/dt=.../hour=.../"
            f"*.parquet (group {GROUP}); query while dev runs:\n"
            f"             AWS_ENDPOINT_URL_S3={s3.endpoint_url} AWS_ACCESS_KEY_ID=chinook-local "
            "AWS_SECRET_ACCESS_KEY=chinook-local-secret chinook-pipeline query "
            f'--bucket {options.bucket_name} "{EXAMPLE}"'
        )

    def finish(self, s3_client: Any, options: "DevOptions") -> VerifyReport:
        """Once the producer has stopped: wait until the sink has read the whole topic, stop it
        (SIGTERM: flush, upload, commit) and verify its objects against the database."""
        if not self.child.catch_up(CATCH_UP_TIMEOUT):
            click.echo(
                f"error: the parquet consumer exited with code {self.child.process.returncode}; "
                f"its log is {self.child.log}",
                err=True,
            )
        self.child.stop(timeout=CATCH_UP_TIMEOUT)
        return verify(options.db, s3_client, options.bucket_name, PREFIX, "parquet")
