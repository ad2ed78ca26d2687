"""Snapshot retention at commit time: the consumer expires its tables' old snapshots itself.

Every commit rewrites the table metadata, which lists each retained snapshot, so a table that only
gains snapshots makes each commit slower than the last (moto, SQLite catalog: 0.4 s per commit at
220 snapshots, 2.1 s at 1,025; at one flush a second that is minutes away). After each commit the
snapshots older than `history.expire.max-snapshot-age-ms` are expired, except the newest
`history.expire.min-snapshots-to-keep`, branch and tag heads and the lineage recovery needs
(`positions.snapshots_to_keep`): Iceberg's own meaning of those table properties, which the
consumer sets on its tables where they are unset (`RETENTION_DEFAULTS`: 10 s, at least 20: a
commit costs about 1.3 ms more per retained snapshot, so the count is what must stay small).

Expiry is a commit of its own, made only once BATCH snapshots are due, so it costs one metadata
write every few commits rather than one per commit. It never fails a flush: the data commit has
already landed, and an expiry that fails (a concurrent one, the catalog down) is retried after a
later commit. Only metadata changes; `iceberg maintain` deletes the files once orphaned and older
than its window, so a reader still scanning an expired snapshot is not cut short.
"""

import logging
import time
from typing import Final

from pyiceberg.table import Table, TableProperties

from chinook_consumer.tables.position_deletes import expire_snapshots
from chinook_shared.iceberg.snapshots import expirable

log = logging.getLogger(__name__)

MAX_AGE: Final = TableProperties.MAX_SNAPSHOT_AGE_MS
MIN_KEPT: Final = TableProperties.MIN_SNAPSHOTS_TO_KEEP
RETENTION_DEFAULTS: Final = {MAX_AGE: "10000", MIN_KEPT: "20"}
BATCH: Final = 10


def expire_old_snapshots(table: Table) -> int:
    """Expire the snapshots of `table` (as of its last commit) that are due, once BATCH are;
    returns how many were expired (0 on failure, logged)."""
    properties = table.properties
    try:
        max_age = int(properties.get(MAX_AGE, TableProperties.MAX_SNAPSHOT_AGE_MS_DEFAULT))
        kept = int(properties.get(MIN_KEPT, TableProperties.MIN_SNAPSHOTS_TO_KEEP_DEFAULT))
        doomed = expirable(table, time.time() * 1000 - max_age, kept)
        if len(doomed) < BATCH:
            return 0
        expire_snapshots(table, sorted(doomed))
    except Exception as error:  # the flush is durable already: retry after a later commit
        log.info("expiring old snapshots of %s failed, retried later: %s", table.name(), error)
        return 0
    return len(doomed)
