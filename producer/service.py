"""The producer's main loop: capture changes from SQLite and publish each exactly once.

Guarantees: every change committed to `Customer` reaches the topic, in sequence order per
customer, exactly once across restarts and crashes (see `chinook_producer.recovery`); a change leaves
the change table only after the broker has acknowledged it and every change before it. A change
that cannot be published goes to the dead-letter topic instead (see `chinook_producer.dead_letters`).
"""

import dataclasses
import logging
import threading
import time
from itertools import islice
from typing import Final

from chinook_producer import change_log, schema_watch
from chinook_producer.ack_tracker import AckTracker
from chinook_producer.capture import check_source, use_wal
from chinook_producer.capture_state import save_checkpoint
from chinook_producer.database import SQLITE_POLICY, Database
from chinook_producer.dead_letters import DEAD_LETTER_PARTITIONS, dead_letter, dead_letter_topic
from chinook_producer.encoder import ChangeEncoder, UnencodableRow, check_size, encode_batch
from chinook_producer.metrics import ROWS_CAPTURED, SOURCE_LAG
from chinook_producer.publisher import Publisher
from chinook_producer.recovery import recover
from chinook_producer.settings import ProducerSettings
from chinook_shared.broker_check import check_broker
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings, ensure_topic

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH_TIMEOUT: Final = (
    30.0  # seconds; whatever is unacknowledged then is recovered on restart
)
RETRY_PAUSE: Final = 1.0  # seconds between a delivery failure and the recovery that follows it


def run_producer(settings: ProducerSettings, health: Health, stop: threading.Event) -> None:
    """Publish the database's changes until `stop` is set (or, with exit_when_idle, until idle).

    Raises PipelineError for a missing or unusable database or an unreachable broker.
    """
    kafka = kafka_settings(settings.kafka)
    policy = dataclasses.replace(SQLITE_POLICY, give_up_after=settings.give_up_after)
    db = Database(settings.db_path, settings.busy_timeout, policy)
    reader = Database(settings.db_path, settings.busy_timeout, policy)
    try:
        db.run(lambda connection: check_source(connection, settings.db_path))
        db.run(use_wal)
        check_broker(kafka)
        db.wait_out_locks(health, stop)
        reader.wait_out_locks(health, stop)
        while not _run_session(settings, kafka, db, reader, health, stop):
            stop.wait(RETRY_PAUSE)
    finally:
        reader.close()
        db.close()


def kafka_settings(settings: KafkaSettings) -> KafkaSettings:
    """The settings with automatic topic creation off (unless asked for), so a metadata request
    never creates the topic with the broker's default partition count."""
    return dataclasses.replace(
        settings, extra={"allow.auto.create.topics": "false", **settings.extra}
    )


def _run_session(
    settings: ProducerSettings,
    kafka: KafkaSettings,
    db: Database,
    reader: Database,
    health: Health,
    stop: threading.Event,
) -> bool:
    """Recover, then publish until stopped or idle (True) or until a delivery fails (False).

    A schema change that breaks capture (see `chinook_producer.schema_watch`) ends the session once every
    change captured so far is published: False to reinstall capture, or PipelineError.
    """
    recovery = recover(db, kafka, settings.topic, settings.partitions, health, stop)
    if recovery is None:
        return True
    state = recovery.state
    ensure_topic(kafka, dead_letter_topic(settings.topic), DEAD_LETTER_PARTITIONS)
    tracker = AckTracker(state.acked_seq, state.partition_offsets, recovery.published)
    publisher = Publisher(kafka, settings.topic, state.source_id, tracker, health)
    checkpointer = _Checkpointer(db, tracker, settings.checkpoint_interval)
    log.info(
        "publishing changes after sequence %d of %s to topic %s (%d partitions)",
        state.acked_seq,
        settings.db_path,
        settings.topic,
        recovery.partitions,
    )
    health.recover("delivery")
    last_read = state.acked_seq
    finished = True
    schema = schema_watch.SchemaWatch(settings.db_path)
    schema_change: schema_watch.Verdict | None = None
    while not stop.is_set():
        health.beat()
        if publisher.failed:
            finished = False
            break
        checkpointer.maybe_save()
        version = reader.run(change_log.data_version)
        schema_change = schema_change or _watch(reader, schema, health)
        changes = reader.run(
            lambda connection: change_log.read_changes(connection, last_read, settings.batch_rows)
        )
        if changes:
            ROWS_CAPTURED.inc(len(changes))
            _publish(changes, tracker, publisher, state.source_id, stop)
            last_read = changes.last_seq
            publisher.poll(0)
            continue
        if (settings.exit_when_idle or schema_change) and tracker.in_flight == 0:
            break
        while (
            reader.run(change_log.data_version) == version
            and not stop.is_set()
            and not publisher.failed
        ):
            publisher.poll(settings.poll_interval)
            health.beat()
            checkpointer.maybe_save()
            if (settings.exit_when_idle or schema_change) and tracker.in_flight == 0:
                break
    remaining = publisher.flush(SHUTDOWN_FLUSH_TIMEOUT)
    if remaining:
        log.warning(
            "%d change(s) not acknowledged at shutdown: they are checked again on restart",
            remaining,
        )
    checkpointer.save()
    if schema_change is not None:
        schema_watch.settle(schema_change, db.run(change_log.pending_count))
        return stop.is_set()
    return finished


def _watch(
    reader: Database, schema: schema_watch.SchemaWatch, health: Health
) -> schema_watch.Verdict | None:
    """The schema watch's verdict; one that stops capture also shows as `failing` in health
    while the changes captured so far are published."""
    verdict = reader.run(schema.check)
    if verdict is not None and verdict.action is schema_watch.Action.STOP:
        health.fail("schema", verdict.message)
    return verdict


def _publish(
    changes: change_log.ChangeRows,
    tracker: AckTracker,
    publisher: Publisher,
    source_id: str,
    stop: threading.Event,
) -> None:
    """Publish one read of changes in sequence order, except those a recovery found already in
    the topic. The whole read goes through the batch encoder; a read it refuses, or the rest of
    one the client refused a message of, goes row by row, where a row that cannot be published
    goes to the dead-letter topic. The read is acknowledged once all of it is queued (sealed)
    and delivered; one cut short by `stop` never is, and recovery finds what of it got through."""
    seqs = changes.column("seq")
    published = tracker.track_all(seqs)
    read = publisher.read([seq for seq in seqs if seq not in published] if published else seqs)
    values = None if published else encode_batch(changes)
    start = 0
    if values is not None:
        keys = [str(customer_id) for customer_id in changes.column("customer_id")]
        start = publisher.publish_all(read, keys, values, changes.column("captured_at_ms"), stop)
        if start == len(values):
            read.seal()
            return
        if stop.is_set():
            return
    encoder = ChangeEncoder()
    for row in islice(changes, start, None):
        seq = row["seq"]
        if seq in published:
            continue
        key = str(row["customer_id"]).encode()
        try:
            value = check_size(encoder.encode(row), seq)
            queued = publisher.publish(read, seq, key, value, row["captured_at_ms"], stop)
        except UnencodableRow as error:
            log.error("dead-lettering change %s of customer %s: %s", seq, row["customer_id"], error)
            letter = dead_letter(row, str(error), source_id)
            queued = publisher.dead_letter(read, seq, letter, stop)
        if not queued:
            return
    read.seal()


class _Checkpointer:
    """Writes the tracker's checkpoint every `interval` seconds, when it moved."""

    def __init__(self, db: Database, tracker: AckTracker, interval: float) -> None:
        self._db = db
        self._tracker = tracker
        self._interval = interval
        self._saved = (tracker.acked_seq, tracker.partition_offsets())
        self._due = time.monotonic() + interval

    def maybe_save(self) -> None:
        if time.monotonic() >= self._due:
            self.save()

    def save(self) -> None:
        checkpoint = (self._tracker.acked_seq, self._tracker.partition_offsets())
        if checkpoint != self._saved:
            self._db.run(lambda connection: save_checkpoint(connection, *checkpoint))
            self._saved = checkpoint
        last = self._db.run(change_log.last_seq)
        SOURCE_LAG.set(max(0, (last or 0) - checkpoint[0]))
        self._due = time.monotonic() + self._interval
