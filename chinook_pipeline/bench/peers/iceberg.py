"""The peer's figures (`bench --peers`): Kafka Connect with the Apache Iceberg sink (`connect`)
beside `consumer --table`, on the same broker, S3 server and kind of catalog, over the same
changes, read from a JSON copy of the topic (`json_copy`).

- `peer_table`: the same backlog as `consumer_table` (copied to JSON first, untimed), to a
  committed table: records/s from the sink task's start (its log line; JVM start-up and plug-in
  scanning left out, as the services' interpreter start-up is) to the check (every 0.1 s, on the
  catalog) that finds every record committed; `peer_table_process` from the JVM's start.
  `peer_table_rss`: the JVM's peak RSS in that run. `peer_files_per_commit`: data files in the
  table over its commits (the table's sequence number), as `table_files_per_commit` for ours.
- `peer_freshness_p50/p99`: a producer, the JSON copy following the topic live and the sink
  (commit interval = `--flush-age`) under the same steady writes as `table_freshness`, measured
  the same way (`TableWatcher`); the copy's hop (a consume and a produce, 5 ms linger) is in them.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chinook_pipeline.bench.peers.connect import STARTED_LINE, IcebergSink
from chinook_pipeline.bench.probes import (
    FRESHNESS_CUSTOMERS,
    MB,
    POLL_SECONDS,
    SERVICE_TIMEOUT,
    last_change,
)
from chinook_pipeline.bench.report import percentile
from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.steady import write_until_seen
from chinook_pipeline.bench.table import files_per_commit, metadata_location, s3_properties
from chinook_pipeline.bench.table_freshness import TableWatcher
from chinook_pipeline.local import embedded
from chinook_pipeline.local.processes import DRAIN_TIMEOUT, Child
from chinook_shared.errors import PipelineError

TABLE = "bench.peer_changes"


def peer_table(bench: Session, topic: str, total: int, repeat: int) -> None:
    """Figures `peer_table`, `peer_table_process`, `peer_table_rss`, `peer_files_per_commit`."""
    stack = bench.stack
    name = stack.name("peer", repeat)
    copied = _copy(bench, topic, f"{name}.json", "backlog")
    if copied != total:
        raise PipelineError(f"the JSON copy of {topic} holds {copied} of its {total} changes")
    sink = _sink(bench, name, f"{name}.json")
    connect = sink.start(stack.env)
    try:
        deadline = time.monotonic() + SERVICE_TIMEOUT
        done = _wait_for_records(bench, connect, sink.catalog_db, total, deadline)
        started = _task_started(connect.log)
    finally:
        connect.stop()
    if done is None:
        raise PipelineError(f"the peer committed fewer than {total} records: see {connect.log}")
    if started is None:
        raise PipelineError(f"the peer's sink task never logged its start: see {connect.log}")
    wall = done - connect.started
    active = time.time() - (time.monotonic() - done) - started
    bench.record(
        "peer_table", total / active, records=total, active_seconds=active, wall_seconds=wall
    )
    bench.record("peer_table_process", total / wall, wall_seconds=wall)
    bench.record("peer_table_rss", connect.peak_rss / MB, records=total)
    ratio, counts = files_per_commit(sink.catalog_db, TABLE, stack)
    bench.record("peer_files_per_commit", ratio, **counts)
    stack.delete_topics(f"{name}.json", f"{name}.control")


def peer_freshness(bench: Session, repeat: int) -> None:
    """Figures `peer_freshness_p50/p99`."""
    with _steady_peer(bench, repeat) as (db, catalog_db, connect):
        properties = s3_properties(bench.stack)
        watcher = TableWatcher(catalog_db, TABLE, properties, last_change(db) + 1)

        def poll() -> None:
            connect.running()  # keeps its peak RSS
            new = watcher.check()
            if new is not None:
                watcher.read(*new)

        written, latencies = write_until_seen(
            bench, db, f"peer-fresh-writer-{repeat}", repeat, poll, watcher.latencies
        )
    if len(latencies) < written:
        raise PipelineError(
            f"peer freshness: {len(latencies)} of {written} changes reached the peer's table "
            f"within {DRAIN_TIMEOUT:.0f}s after the writes: see {connect.log}"
        )
    detail = {"rows": len(latencies), "changes": written}
    bench.record("peer_freshness_p50", percentile(latencies, 0.5), **detail)
    bench.record(
        "peer_freshness_p99", percentile(latencies, 0.99), max_seconds=max(latencies), **detail
    )


@contextmanager
def _steady_peer(bench: Session, repeat: int) -> Iterator[tuple[Path, Path, Child]]:
    """A producer, the live JSON copy and the peer on a new database of FRESHNESS_CUSTOMERS
    customers, running: (database, catalog, Connect) once the snapshot is committed."""
    from chinook_pipeline.tools.seed import seed_database
    from chinook_shared.kafka import ensure_topic

    settings, stack = bench.settings, bench.stack
    name = stack.name("peer-fresh", repeat)
    db = stack.work / f"peer-fresh-{repeat}.db"
    seed_database(db, FRESHNESS_CUSTOMERS)
    for topic in (name, f"{name}.json"):
        ensure_topic(stack.kafka_settings(), topic, settings.partitions)
    producer = stack.producer(f"peer-fresh-producer-{repeat}", db, name, settings.partitions)
    copy = _start_copy(bench, name, f"{name}.json", f"peer-fresh-copy-{repeat}")
    sink = _sink(bench, name, f"{name}.json")
    connect = sink.start(stack.env)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        if (
            _wait_for_records(bench, connect, sink.catalog_db, FRESHNESS_CUSTOMERS, deadline)
            is None
        ):
            raise PipelineError(
                f"the peer did not commit the snapshot of {FRESHNESS_CUSTOMERS} customers in "
                f"{DRAIN_TIMEOUT:.0f}s: see {connect.log}"
            )
        yield db, sink.catalog_db, connect
    finally:
        for child in (producer, copy, connect):
            child.stop()
    stack.delete_topics(name, f"{name}.json", f"{name}.control")


def _sink(bench: Session, name: str, topic: str) -> IcebergSink:
    from chinook_shared.kafka import ensure_topic

    stack = bench.stack
    ensure_topic(stack.kafka_settings(), f"{name}.control", 1)
    return IcebergSink(
        name=name,
        bootstrap_servers=stack.bootstrap_servers,
        topic=topic,
        table=TABLE,
        catalog_db=stack.work / f"iceberg-{name}.db",
        warehouse=f"s3://{stack.bucket}/{name}",
        s3_endpoint_url=stack.s3_endpoint_url,
        commit_interval=bench.settings.flush_age,
        directory=stack.work / "logs" / name,
    )


def _copy_argv(bench: Session, source: str, target: str, mode: str) -> list[str]:
    properties = {
        k: v for k, v in bench.stack.kafka_settings().client_properties().items() if k != "logger"
    }
    module = "chinook_pipeline.bench.peers.json_copy"
    return [sys.executable, "-m", module, json.dumps(properties), source, target, mode]


def _copy(bench: Session, source: str, target: str, mode: str) -> int:
    """Copy `source` to JSON in `target` (created with the bench's partitions); the count."""
    from chinook_shared.kafka import ensure_topic

    stack = bench.stack
    ensure_topic(stack.kafka_settings(), target, bench.settings.partitions)
    log = stack.work / "logs" / f"{target}.copy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as errors:
        done = subprocess.run(
            _copy_argv(bench, source, target, mode),
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=errors,
            timeout=SERVICE_TIMEOUT,
        )
    if done.returncode != 0:
        raise PipelineError(f"the JSON copy of {source} failed: see {log}")
    return int(json.loads(done.stdout)["messages"])


def _start_copy(bench: Session, source: str, target: str, name: str) -> Child:
    log = bench.stack.work / "logs" / f"{name}.log"
    argv = _copy_argv(bench, source, target, "follow")
    return Child(name, embedded.spawn(argv, env=bench.stack.env, log=log), log)


def _wait_for_records(
    bench: Session, connect: Child, catalog_db: Path, records: int, deadline: float
) -> float | None:
    """The monotonic time of the first check (every POLL_SECONDS) that found at least `records`
    records committed to the peer's table; None if Connect exited or `deadline` passed first."""
    from pyiceberg.table import StaticTable

    location, properties = None, s3_properties(bench.stack)
    while time.monotonic() < deadline:
        if not connect.running():
            return None
        checked = time.monotonic()
        current = metadata_location(catalog_db, TABLE)
        if current is not None and current != location:
            location = current
            snapshot = StaticTable.from_metadata(location, properties).metadata.current_snapshot()
            summary: Any = snapshot.summary if snapshot else None
            if summary and int(summary["total-records"]) >= records:
                return checked
        time.sleep(POLL_SECONDS)
    return None


def _task_started(log: Path) -> float | None:
    """When (epoch seconds, from its log's timestamp) the sink task logged its start."""
    from datetime import datetime

    for line in log.read_text(errors="replace").splitlines():
        if STARTED_LINE in line and line.startswith("["):
            return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None
