"""Where batches go, chosen once at start: the objects sink (objects in the bucket) or the
tables sink (rows of Iceberg tables).

A destination is two halves the executor's jobs call (consumer/jobs.py): `positions` says where a
newly assigned partition resumes, `writer` makes a batch durable. Objects (`chinook_consumer.objects`):
the journal and the object writer. Tables (`--table`, `chinook_consumer.tables`): `TableDestination` for
both, over the tables opened here (created or evolved on first use). pyiceberg is imported only
for tables.
"""

import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import Final

from chinook_consumer.completion import DurablePositions
from chinook_consumer.jobs import Writer
from chinook_consumer.objects.bucket import wait_for_bucket
from chinook_consumer.objects.formats import object_format
from chinook_consumer.objects.journal import Journal
from chinook_consumer.objects.keys import Keys, bucket_ms
from chinook_consumer.objects.uploader import Uploader
from chinook_consumer.objects.writer import ObjectWriter
from chinook_consumer.positions import Positions
from chinook_consumer.settings import ConsumerSettings, retry_policy
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import StartWindow, retry_call
from chinook_shared.s3 import make_client

log = logging.getLogger(__name__)

# boto3's own retries of one bucket check (8 attempts) take 5 to 8 s against a closed port, and
# far longer against a host that drops packets: the start window's own retries replace them.
START_PROBE_ATTEMPTS: Final = 2


@dataclass(frozen=True)
class Destination:
    positions: Positions
    writer: Writer
    where: str  # for messages: "bucket NAME", "table NAMESPACE.NAME" or "tables A and B"
    component: str  # the health component its failures degrade: "s3" or "tables"
    bucket_ms: int | None  # the time bucket its buffers group records by; None: one group
    # the group's durable positions (for --exit-when-idle); None: its committed offsets
    durable: DurablePositions | None = None


def open_destination(
    settings: ConsumerSettings, health: Health, stop: threading.Event
) -> Destination | None:
    """The destination `settings` asks for, usable; None when stopped first.

    Raises PipelineError when it cannot be used: a missing bucket or denied access (objects), a
    bad table name, or a permanent catalog fault outlasting `give_up_after` (tables). A catalog
    that is down or locked is waited for, with `degraded` health.
    """
    if settings.table:
        return _tables(settings, settings.table, health, stop)
    assert settings.bucket is not None  # checked by ConsumerSettings
    client = make_client(settings.s3)
    probe = make_client(replace(settings.s3, max_attempts=START_PROBE_ATTEMPTS))
    if not wait_for_bucket(probe, settings, health, stop):
        return None
    uploader = Uploader(
        client, settings.bucket, settings.multipart_threshold, settings.multipart_chunksize
    )
    journal = Journal(uploader, settings.prefix, settings.group_id, settings.topic)
    encoding = object_format(settings.format, settings.compression, settings.gzip_level)
    keys = Keys(settings.layout, settings.prefix, settings.topic)
    writer = ObjectWriter(uploader, journal, keys, encoding)
    return Destination(
        positions=journal,
        writer=writer,
        where=f"bucket {settings.bucket}",
        component="s3",
        bucket_ms=bucket_ms(settings.layout),
    )


def _tables(
    settings: ConsumerSettings, table: str, health: Health, stop: threading.Event
) -> Destination | None:
    from chinook_consumer.tables.committer import TableCommitter
    from chinook_consumer.tables.definitions import open_change_table, open_state_table
    from chinook_consumer.tables.destination import TableDestination
    from chinook_shared.iceberg.catalog import (
        CatalogSettingsError,
        open_catalog,
        safe_uri,
        table_identifier,
    )

    table_identifier(table)
    if settings.state_table:
        table_identifier(settings.state_table)
    uri, name = settings.catalog.uri, settings.catalog.name
    described = (
        f"the Iceberg catalog at {safe_uri(uri)}" if uri else f"pyiceberg's catalog {name!r}"
    )

    def connect() -> TableCommitter | CatalogSettingsError:
        try:
            catalog = open_catalog(settings.catalog, settings.s3)
        except CatalogSettingsError as error:
            return error  # not retried: raised below
        changes = open_change_table(catalog, table)
        state = open_state_table(catalog, settings.state_table) if settings.state_table else None
        return TableCommitter(changes, state)

    try:
        opened = retry_call(
            connect,
            f"opening Iceberg table {table}",
            policy=retry_policy(settings),
            health=health,
            name="tables",
            stop=stop,
            log=log,
            window=StartWindow(settings.start_timeout, _tables_check(settings, described)),
        )
    except PipelineError:
        if stop.is_set():
            return None
        raise
    if isinstance(opened, CatalogSettingsError):
        raise opened
    log.info(
        "writing table %s%s", table, f" and {settings.state_table}" if settings.state_table else ""
    )
    tables = TableDestination(opened, settings.group_id, settings.topic, settings.flush_limits)
    where = (
        f"tables {table} and {settings.state_table}" if settings.state_table else f"table {table}"
    )
    return Destination(
        positions=tables,
        writer=tables,
        where=where,
        component="tables",
        bucket_ms=None,  # rows are not split by time: a batch is one group, in offset order
        durable=tables.positions,
    )


def _tables_check(settings: ConsumerSettings, catalog: str) -> str:
    """What to check when the tables could never be opened: the catalog (described safely, no
    password), then S3."""
    s3 = settings.s3.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or "AWS"
    return (
        f"check that {catalog} and S3 ({s3}) are up and reachable, or fix --catalog-uri / "
        "--s3-endpoint-url"
    )
