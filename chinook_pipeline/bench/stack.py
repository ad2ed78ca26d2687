"""Where the bench runs: a broker, an S3 endpoint and a bucket, given or started here.

Without `--bootstrap-servers` / `--s3-endpoint-url` the bench starts an embedded Apache Kafka node (
storage) and a moto S3 server, as `dev` does; services run as `python -m chinook_pipeline`
children with the bench's environment minus every `CHINOOK_` variable.
"""

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.processes import Child


@dataclass
class Stack:
    """Broker, S3 endpoint and bucket, the environment children get, and where their logs go."""

    bootstrap_servers: str
    s3_endpoint_url: str | None
    bucket: str
    env: dict[str, str]
    work: Path
    broker_description: str
    s3_description: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def name(self, *parts: object) -> str:
        """A topic, group or prefix name unique to this bench run."""
        return ".".join(["bench", self.run_id, *(str(part) for part in parts)])

    def kafka_settings(self) -> Any:
        from chinook_shared.kafka import KafkaSettings

        return KafkaSettings(bootstrap_servers=self.bootstrap_servers)

    def s3_client(self) -> Any:
        from chinook_shared.s3 import S3Settings, make_client

        return make_client(S3Settings(endpoint_url=self.s3_endpoint_url))

    def delete_topics(self, *topics: str) -> None:
        """Free the embedded broker's memory; a broker that refuses keeps them, which is fine."""
        from chinook_shared.kafka import admin_client

        futures = admin_client(self.kafka_settings()).delete_topics(
            list(topics), operation_timeout=30
        )
        for future in futures.values():
            with suppress(Exception):
                future.result(30)

    def spawn(self, name: str, *args: str, metrics: bool = False) -> Child:
        """Start `python -m chinook_pipeline ARGS`; its output goes to `<work>/logs/<name>.log`."""
        return Child.start(name, args, self.work / "logs", env=self.env, metrics=metrics)

    def producer(
        self, name: str, db: Path, topic: str, partitions: int, *extra: str, metrics: bool = False
    ) -> Child:
        """Start a producer capturing `db` into `topic` (created with `partitions`)."""
        return self.spawn(
            name,
            "producer",
            "--db",
            str(db),
            *self._kafka_args(topic),
            "--partitions",
            str(partitions),
            *extra,
            metrics=metrics,
        )

    def consumer(
        self, name: str, topic: str, group: str, *extra: str, metrics: bool = False
    ) -> Child:
        """Start a consumer of `topic` in `group`, writing under the prefix `group` of the bucket."""
        s3 = ["--s3-endpoint-url", self.s3_endpoint_url] if self.s3_endpoint_url else []
        return self.spawn(
            name,
            "consumer",
            *self._kafka_args(topic),
            "--bucket",
            self.bucket,
            "--prefix",
            group,
            "--group-id",
            group,
            *s3,
            *extra,
            metrics=metrics,
        )

    def _kafka_args(self, topic: str) -> list[str]:
        return [
            "--bootstrap-servers",
            self.bootstrap_servers,
            "--topic",
            topic,
            "--log-level",
            "INFO",
        ]


@contextmanager
def open_stack(
    bootstrap_servers: str | None,
    s3_endpoint_url: str | None,
    bucket: str | None,
    work: Path,
    progress: Callable[[str], None],
) -> Iterator[Stack]:
    """The given endpoints, or an embedded Apache Kafka node and moto started here; a new
    bucket unless one is given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINOOK_")}
    with ExitStack() as cleanup:
        s3_description = f"S3 at {s3_endpoint_url}"
        if s3_endpoint_url is None and not os.environ.get("AWS_ENDPOINT_URL_S3"):
            server = embedded.start_s3(log=work / "moto.log")
            cleanup.callback(server.stop)
            _set_environ(cleanup, server.env)  # this process's own S3 client, until the end
            env.update(server.env)
            s3_endpoint_url = server.endpoint_url
            s3_description = f"embedded moto at {server.endpoint_url}"
        elif s3_endpoint_url is None:
            s3_description = f"S3 at AWS_ENDPOINT_URL_S3={os.environ['AWS_ENDPOINT_URL_S3']}"
        broker_description = f"broker at {bootstrap_servers}"
        if bootstrap_servers is None:
            broker = kafka.start_cluster(work / "kafka")
            cleanup.callback(broker.stop)
            bootstrap_servers = broker.bootstrap_servers
            broker_description = f"embedded Apache Kafka (KRaft, one node) at {bootstrap_servers}"
        stack = Stack(
            bootstrap_servers,
            s3_endpoint_url,
            bucket or "",
            env,
            work,
            broker_description,
            s3_description,
        )
        if not bucket:
            stack.bucket = f"chinook-bench-{stack.run_id}"
            stack.s3_client().create_bucket(Bucket=stack.bucket)
        progress(
            f"bench: {broker_description}; {s3_description}, bucket {stack.bucket}; work in {work}"
        )
        yield stack


def _set_environ(cleanup: ExitStack, values: Mapping[str, str]) -> None:
    """Set environment variables now and restore their previous state when `cleanup` closes."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)

    def restore() -> None:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    cleanup.callback(restore)
