"""The Parquet sink of `chinook-pipeline dev`: the same topic written a second time, as Parquet.

Kafka hands every record to every consumer group, so the sink is one more `chinook-pipeline
consumer` process in a group of its own (`chinook-parquet-sink`) with its own journal: the
Protobuf objects and their guarantees are untouched. Its objects go under the `parquet/` prefix
of the same bucket (as in compose), where no other sink writes, because engines such as Athena
read every object under a table's location; `query` and `verify` read them with `--prefix parquet`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click

from chinook_pipeline.local import kafka
from chinook_pipeline.local.processes import Child
from chinook_pipeline.local.settings import DevSettings
from chinook_pipeline.tools.verify import VerifyReport, verify

GROUP: Final = "chinook-parquet-sink"
PREFIX: Final = "parquet"
# Fewer, larger objects than the Protobuf sink's (dev flushes those every 2 s): a query opens
# every object it cannot rule out by its key, at a few requests each.
FLUSH_AGE: Final = 10.0
CATCH_UP_TIMEOUT: Final = 60.0


@dataclass
class ParquetSink:
    child: Child

    @classmethod
    def start(cls, settings: DevSettings, broker: kafka.Cluster, log_dir: Path) -> "ParquetSink":
        args = [
            *(
                "consumer",
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--topic",
                settings.topic,
            ),
            *("--bucket", settings.bucket_name, "--flush-age", str(FLUSH_AGE)),
            *("--format", "parquet", "--prefix", PREFIX, "--group-id", GROUP),
        ]
        return cls(Child.start("consumer-parquet", args, log_dir, metrics=True))

    def finish(self, s3_client: Any, settings: DevSettings) -> VerifyReport:
        """Once the producer has stopped: wait until the sink has read the whole topic, stop it
        (SIGTERM: flush, upload, commit) and verify its objects against the database."""
        if not self.child.catch_up(CATCH_UP_TIMEOUT):
            click.echo(
                f"error: the parquet consumer exited with code {self.child.process.returncode}; "
                f"its log is {self.child.log}",
                err=True,
            )
        self.child.stop(timeout=CATCH_UP_TIMEOUT)
        return verify(settings.db, s3_client, settings.bucket_name, PREFIX, "parquet")
