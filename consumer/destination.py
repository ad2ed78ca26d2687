"""Where batches go, chosen once at start: objects in the bucket, or rows of Iceberg tables.

A destination is two halves the executor's jobs call (consumer/jobs.py): `starts` says where a
newly assigned partition starts, `writer` makes a batch durable. Objects: the journal and the
flusher. Tables (`--table`): `consumer.iceberg.destination.TableDestination` for both, over the
tables opened here (created or evolved on first use). pyiceberg is imported only for tables.
"""

import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import Final

from consumer.completion import Positions
from consumer.config import ConsumerConfig
from consumer.flusher import Flusher
from consumer.formats import object_format
from consumer.jobs import Starts, Writer
from consumer.journal import Journal
from consumer.startup import retry_policy, wait_for_bucket
from consumer.uploader import Uploader
from shared.errors import PipelineError
from shared.health import Health
from shared.retry import StartWindow, retry_call
from shared.s3 import make_client

log = logging.getLogger("consumer.service")

# boto3's own retries of one bucket check (8 attempts) take 5 to 8 s against a closed port, and
# far longer against a host that drops packets: the start window's own retries replace them.
START_PROBE_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class Destination:
    starts: Starts
    writer: Writer
    where: str  # for messages: "bucket NAME", "table NAMESPACE.NAME" or "tables A and B"
    component: str  # the health component its failures degrade: "s3" or "lake"
    # the group's durable positions (for --exit-when-idle); None: its committed offsets
    positions: Positions | None = None


def open_destination(
    config: ConsumerConfig, health: Health, stop: threading.Event
) -> Destination | None:
    """The destination `config` asks for, usable; None when stopped first.

    Raises PipelineError when it cannot be used: a missing bucket or denied access (objects), a
    bad table name, or a permanent catalog fault outlasting `give_up_after` (tables). A catalog
    that is down or locked is waited for, with `degraded` health.
    """
    if config.table:
        return _tables(config, config.table, health, stop)
    assert config.bucket is not None  # checked by ConsumerConfig
    client = make_client(config.s3)
    probe = make_client(replace(config.s3, max_attempts=START_PROBE_ATTEMPTS))
    if not wait_for_bucket(probe, config, health, stop):
        return None
    uploader = Uploader(
        client, config.bucket, config.multipart_threshold, config.multipart_chunksize
    )
    journal = Journal(uploader, config.prefix, config.group_id, config.topic)
    encoding = object_format(config.format, config.compression, config.gzip_level)
    flusher = Flusher(uploader, journal, config.layout, config.prefix, config.topic, encoding)
    return Destination(journal, flusher, f"bucket {config.bucket}", "s3")


def _tables(
    config: ConsumerConfig, table: str, health: Health, stop: threading.Event
) -> Destination | None:
    from consumer.iceberg.committer import LakeCommitter
    from consumer.iceberg.destination import TableDestination
    from consumer.iceberg.tables import open_change_table, open_state_table
    from shared.iceberg.catalog import (
        CatalogConfigError,
        open_catalog,
        safe_uri,
        table_identifier,
    )

    table_identifier(table)
    if config.state_table:
        table_identifier(config.state_table)
    uri, name = config.catalog.uri, config.catalog.name
    described = (
        f"the Iceberg catalog at {safe_uri(uri)}" if uri else f"pyiceberg's catalog {name!r}"
    )

    def connect() -> LakeCommitter | CatalogConfigError:
        try:
            catalog = open_catalog(config.catalog, config.s3)
        except CatalogConfigError as error:
            return error  # not retried: raised below
        changes = open_change_table(catalog, table)
        state = open_state_table(catalog, config.state_table) if config.state_table else None
        return LakeCommitter(changes, state)

    try:
        opened = retry_call(
            connect,
            f"opening Iceberg table {table}",
            policy=retry_policy(config),
            health=health,
            name="lake",
            stop=stop,
            log=log,
            window=StartWindow(config.start_timeout, _lake_check(config, described)),
        )
    except PipelineError:
        if stop.is_set():
            return None
        raise
    if isinstance(opened, CatalogConfigError):
        raise opened
    log.info(
        "writing table %s%s", table, f" and {config.state_table}" if config.state_table else ""
    )
    lake = TableDestination(opened, config.group_id, config.topic, config.flush_limits)
    where = f"tables {table} and {config.state_table}" if config.state_table else f"table {table}"
    return Destination(lake, lake, where, "lake", lake.positions)


def _lake_check(config: ConsumerConfig, catalog: str) -> str:
    """What to check when the tables could never be opened: the catalog (described safely, no
    password), then S3."""
    s3 = config.s3.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or "AWS"
    return (
        f"check that {catalog} and S3 ({s3}) are up and reachable, or fix --catalog-uri / "
        "--s3-endpoint-url"
    )
