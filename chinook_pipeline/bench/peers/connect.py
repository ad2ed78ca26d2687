"""Kafka Connect in standalone mode with the Apache Iceberg sink, as the bench's peer.

One JVM (`org.apache.kafka.connect.cli.ConnectStandalone worker.properties sink.properties`) on
the jars of the pinned `pom.xml` beside this file (fetched once into the cache, as the embedded
broker's are), with the heap `connect-standalone.sh` gives it. The worker reads the JSON copy of
the topic (`json_copy`: `JsonConverter` with schemas; keys as bytes); the sink writes one table of
an Iceberg JDBC catalog on a SQLite file (the catalog named `default`), its files in the bench's
bucket through S3FileIO (path-style), committing every `commit_interval` seconds, and creates the
table partitioned by day of `captured_at`, as the consumer's change table is. AWS credentials
reach the JVM through the environment (the AWS chain), never through a file.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chinook_pipeline.local import embedded
from chinook_pipeline.local.kafka.jars import fetch_jars, java
from chinook_pipeline.local.processes import Child

POM: Final = Path(__file__).with_name("pom.xml")
LOG_CONFIG: Final = Path(__file__).with_name("log4j2.properties")
HEAP: Final = ("-Xms256m", "-Xmx2g")  # connect-standalone.sh's default
SINK: Final = "org.apache.iceberg.connect.IcebergSinkConnector"
CATALOG_NAME: Final = "default"
STARTED_LINE: Final = "Sink task finished initialization and start"
IDLE_POLL_MS: Final = 100


def ensure_jars() -> Path:
    """Kafka Connect's and the Iceberg sink's jars, fetched with Maven first where missing."""
    return fetch_jars(POM, "bench-peers", "iceberg-kafka-connect-*.jar")


@dataclass(frozen=True)
class IcebergSink:
    """One run of the peer: what it reads, where it writes, how often it commits."""

    name: str
    bootstrap_servers: str
    topic: str
    table: str
    catalog_db: Path
    warehouse: str
    s3_endpoint_url: str | None
    commit_interval: float
    directory: Path

    def worker_properties(self) -> dict[str, str]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
            "offset.storage.file.filename": str(self.directory / "connect.offsets"),
            # how long the task's poll waits when no record comes: the sink answers the commit
            # coordinator only between polls, so at the default 60 s an idle sink holds a commit
            # back for up to a minute; its own offsets are committed by the sink, not by this
            "offset.flush.interval.ms": str(IDLE_POLL_MS),
            "listeners": f"http://127.0.0.1:{embedded.free_port()}",
            "plugin.discovery": "service_load",  # no classpath scan: every plug-in has a manifest
        }

    def sink_properties(self) -> dict[str, str]:
        s3 = {"iceberg.catalog.s3.endpoint": self.s3_endpoint_url} if self.s3_endpoint_url else {}
        return {
            "name": self.name,
            "connector.class": SINK,
            "tasks.max": "1",
            "topics": self.topic,
            "iceberg.tables": self.table,
            "iceberg.tables.auto-create-enabled": "true",
            "iceberg.tables.default-partition-by": "day(captured_at)",
            "iceberg.control.topic": f"{self.name}.control",
            "iceberg.control.commit.interval-ms": str(round(self.commit_interval * 1000)),
            "iceberg.catalog": CATALOG_NAME,
            "iceberg.catalog.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
            "iceberg.catalog.uri": f"jdbc:sqlite:{self.catalog_db}",
            "iceberg.catalog.jdbc.schema-version": "V1",
            "iceberg.catalog.warehouse": self.warehouse,
            "iceberg.catalog.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            "iceberg.catalog.s3.path-style-access": "true",
            **s3,
        }

    def start(self, env: dict[str, str]) -> Child:
        """Start the worker with the sink; its output in `<directory>/<name>.log`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        worker, sink = self.directory / "worker.properties", self.directory / "sink.properties"
        _write(worker, self.worker_properties())
        _write(sink, self.sink_properties())
        argv = [
            java(),
            *HEAP,
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{ensure_jars()}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(worker),
            str(sink),
        ]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        log = self.directory / f"{self.name}.log"
        process = embedded.spawn(argv, env={**env, "AWS_REGION": region}, log=log)
        return Child(self.name, process, log)


def _write(path: Path, properties: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    os.chmod(path, 0o600)
