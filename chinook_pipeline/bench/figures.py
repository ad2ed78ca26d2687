"""The measurements: each figure of `report.FIGURES`, `repeat` times, on a `Stack`.

How each figure is timed:
- The services run as separate processes (`python -m chinook_pipeline producer|consumer
  --exit-when-idle`), exactly as a user runs them. Their rate counts from the first change
  read from SQLite / record consumed (seen on the service's /metrics) to the exit of the last process,
  i.e. after the last acknowledgement / commit; interpreter start-up and the consumer-group join
  are left out. `details` keeps the wall time from process start as well; the difference for
  one consumer is `consumer_first_record` (start-up and group join; /metrics polled every 0.02 s).
- Whole processes (`producer_process`, `consumer_process`): the same runs, from process start
  to exit; the consumer's is beside `raw_consume_process`, librdkafka alone in a process of its
  own that joins a group and commits as the service does (`raw_process`), spawn to exit.
- Raw produce and raw consume: see `limits`.
- Freshness: a steady `write` workload on a running producer and consumer (`--flush-age`); for
  each change, the time from its commit in SQLite (`captured_at`) to the listing (every 0.1 s)
  that first shows its object. The same for the Iceberg tables: `table_freshness`.
- The state table's upsert cost at `--state-sizes` customers: `state_upsert`.
- Memory: the peak RSS of each service working through a backlog: `memory`.
- With `--peers`: Kafka Connect with the Apache Iceberg sink, beside `consumer --table`: `peers`.
"""

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from chinook_pipeline.bench import capture_tax, state_upsert
from chinook_pipeline.bench.limits import Payload, consume_all, messages, produce_all
from chinook_pipeline.bench.memory import memory
from chinook_pipeline.bench.probes import (
    FRESHNESS_CUSTOMERS,
    POLL_SECONDS,
    SERVICE_TIMEOUT,
    ObjectWatcher,
    committed_offsets,
    last_change,
    run_to_exit,
    wait_for_commits,
)
from chinook_pipeline.bench.raw_process import raw_consume_process
from chinook_pipeline.bench.report import bench_figures, format_number, percentile
from chinook_pipeline.bench.stack import Stack
from chinook_pipeline.bench.table_freshness import table_freshness
from chinook_pipeline.local.processes import DRAIN_TIMEOUT, Child
from shared import names
from shared.errors import PipelineError

if TYPE_CHECKING:
    from chinook_pipeline.bench.run import BenchOptions

CONSUMER_COUNTS: Final = (1, 2, 3)
T = TypeVar("T")


class Bench:
    """Runs each figure `repeat` times, appending to `runs` (figure -> values) and `details`."""

    def __init__(
        self,
        options: "BenchOptions",
        stack: Stack,
        runs: dict[str, list[float]],
        details: dict[str, Any],
        errors: list[str],
        progress: Callable[[str], None],
    ) -> None:
        self.options, self.stack, self.runs, self.details = options, stack, runs, details
        self.errors, self.say = errors, progress
        self.units = {
            figure.name: figure.unit
            for figure in bench_figures(options.state_size_list, options.peers)
        }

    def record(self, figure: str, value: float, **detail: Any) -> None:
        self.runs[figure].append(value)
        self.details.setdefault(figure, []).append(detail)
        self.say(f"  {figure}: {format_number(value)} {self.units[figure]}")

    def attempt(self, step: str, measure: Callable[..., T], *args: Any) -> T | None:
        """Run one measurement; a failure is recorded (and printed) instead of ending the bench."""
        try:
            return measure(*args)
        except Exception as error:
            message = (
                f"{step}: {error}"
                if isinstance(error, PipelineError)
                else f"{step}: {type(error).__name__}: {error}"
            )
            self.errors.append(message)
            self.say(f"  FAILED {message}")
            return None

    def run(self) -> None:
        options = self.options
        pristine = self.seed("customers", options.customers)
        payloads = messages(pristine, self.stack.work / "messages.db")
        for repeat in range(1, options.repeat + 1):
            self.say(f"run {repeat}/{options.repeat}: throughput on {len(payloads):,} changes")
            self.attempt(f"raw_produce (run {repeat})", self.raw_produce, payloads, repeat)
            topic = self.attempt(f"producer (run {repeat})", self.producer, pristine, repeat)
            total = (
                self.attempt(f"raw_consume (run {repeat})", self.raw_consume, topic)
                if topic
                else None
            )
            if total:
                self.attempt(
                    f"raw_consume_process (run {repeat})",
                    raw_consume_process,
                    self,
                    topic,
                    total,
                    repeat,
                )
            for count in CONSUMER_COUNTS if total else ():
                name = "consumer" if count == 1 else f"consumers_{count}"
                self.attempt(f"{name} (run {repeat})", self.consumers, topic, total, count, repeat)
            if total:
                from chinook_pipeline.bench.parquet import parquet_consumer
                from chinook_pipeline.bench.table import table_consumer

                self.attempt(
                    f"consumer_parquet (run {repeat})", parquet_consumer, self, topic, total, repeat
                )
                self.attempt(
                    f"consumer_table (run {repeat})", table_consumer, self, topic, total, repeat
                )
            if total and options.peers:
                from chinook_pipeline.bench.peers.iceberg import peer_table

                self.attempt(f"peer_table (run {repeat})", peer_table, self, topic, total, repeat)
            self.attempt(
                f"baseline (run {repeat})",
                self.baseline,
                payloads[: options.baseline_records],
                repeat,
            )
            if topic:
                self.delete_topics(topic)
        for repeat in range(1, options.repeat + 1):
            self.say(
                f"run {repeat}/{options.repeat}: freshness at {options.freshness_rate:g} changes/s"
            )
            self.attempt(f"freshness (run {repeat})", self.freshness, repeat)
        for repeat in range(1, options.repeat + 1):
            self.say(
                f"run {repeat}/{options.repeat}: table freshness at "
                f"{options.freshness_rate:g} changes/s"
            )
            self.attempt(f"table freshness (run {repeat})", table_freshness, self, repeat)
            if options.peers:
                from chinook_pipeline.bench.peers.iceberg import peer_freshness

                self.attempt(f"peer freshness (run {repeat})", peer_freshness, self, repeat)
        sizes = options.state_size_list
        state_upsert.measure_sizes(self, self.seed("state", max(sizes)), sizes)
        taxed = self.seed("capture-tax", capture_tax.CUSTOMERS)
        for repeat in range(1, options.repeat + 1):
            self.say(f"run {repeat}/{options.repeat}: capture tax on the application's writes")
            self.attempt(
                f"capture tax (run {repeat})",
                capture_tax.measure,
                self.record,
                taxed,
                self.stack.work,
                repeat,
            )
        backlog = self.seed("backlog", options.backlog)
        for repeat in range(1, options.repeat + 1):
            self.say(
                f"run {repeat}/{options.repeat}: memory on a backlog of {options.backlog:,} changes"
            )
            self.attempt(f"memory (run {repeat})", memory, self, backlog, repeat)

    def seed(self, name: str, customers: int) -> Path:
        from chinook_pipeline.tools.seed import seed_database

        path = self.stack.work / f"{name}.pristine.db"
        self.say(f"seeding {customers:,} customers into {path}")
        seed_database(path, customers)
        return path

    def copy(self, pristine: Path, name: str) -> Path:
        """A fresh database for one run: the producer installs its capture on a copy."""
        path = self.stack.work / f"{name}.db"
        shutil.copyfile(pristine, path)
        return path

    def delete_topics(self, *topics: str) -> None:
        """Free the embedded broker's memory; a broker that refuses keeps them, which is fine."""
        from shared.kafka import admin_client

        futures = admin_client(self.stack.kafka_settings()).delete_topics(
            list(topics), operation_timeout=30
        )
        for future in futures.values():
            with suppress(Exception):
                future.result(30)

    # 1. raw produce limit
    def raw_produce(self, payloads: Sequence[Payload], repeat: int) -> None:
        from shared.kafka import ensure_topic

        topic = self.stack.name("raw", repeat)
        settings = self.stack.kafka_settings()
        ensure_topic(settings, topic, self.options.partitions)
        elapsed = produce_all(settings, topic, payloads)
        self.record("raw_produce", len(payloads) / elapsed, messages=len(payloads), seconds=elapsed)
        self.delete_topics(topic)

    # 2. producer
    def producer(self, pristine: Path, repeat: int) -> str:
        topic = self.stack.name("changes", repeat)
        db = self.copy(pristine, f"producer-{repeat}")
        child = self.run_producer(db, topic, f"producer-{repeat}")
        active, wall = run_to_exit([child], names.PRODUCER_ROWS_CAPTURED)
        self.record(
            "producer",
            self.options.customers / active,
            changes=self.options.customers,
            active_seconds=active,
            wall_seconds=wall,
            peak_rss_bytes=child.peak_rss,
        )
        self.record("producer_process", self.options.customers / wall, wall_seconds=wall)
        return topic

    def run_producer(self, db: Path, topic: str, name: str) -> Child:
        return self.stack.producer(
            name, db, topic, self.options.partitions, "--exit-when-idle", metrics=True
        )

    # 3. raw consume limit
    def raw_consume(self, topic: str) -> int:
        elapsed, ends = consume_all(
            self.stack.kafka_settings().client_config(),
            topic,
            self.options.partitions,
            SERVICE_TIMEOUT,
        )
        total = sum(ends.values())
        if total != self.options.customers:
            raise PipelineError(
                f"topic {topic} holds {total} messages after the producer, expected "
                f"{self.options.customers} (one per customer): the producer lost or duplicated changes"
            )
        self.record("raw_consume", total / elapsed, messages=total, seconds=elapsed)
        return total

    # 4. consumer and 7. scale-out
    def consumers(self, topic: str, total: int, count: int, repeat: int) -> None:
        figure = "consumer" if count == 1 else f"consumers_{count}"
        wall = self.consume(figure, topic, total, self.stack.name("sink", repeat, count), count)
        if count == 1:
            self.record("consumer_process", total / wall, wall_seconds=wall)
            start = wall - self.details[figure][-1]["active_seconds"]
            self.record("consumer_first_record", start, wall_seconds=wall)

    def consume(
        self, figure: str, topic: str, total: int, group: str, count: int, *extra: str
    ) -> float:
        """Figure `figure`: `count` consumers of `group` (with `extra` options) read the whole
        topic and exit; records/s, once every record is committed. Returns the wall seconds from
        the first start to the last exit."""
        children = [
            self.stack.consumer(
                f"{group}-{i}", topic, group, "--exit-when-idle", *extra, metrics=True
            )
            for i in range(count)
        ]
        active, wall = run_to_exit(children, names.CONSUMER_RECORDS_CONSUMED)
        committed = committed_offsets(
            self.stack.kafka_settings().client_config(), topic, group, self.options.partitions
        )
        if sum(committed.values()) != total:
            raise PipelineError(
                f"{figure}: {count} consumer(s) exited having committed "
                f"{sum(committed.values())} of {total} records of {topic}: see {children[0].log}"
            )
        self.record(
            figure,
            total / active,
            records=total,
            active_seconds=active,
            wall_seconds=wall,
            processes=count,
            peak_rss_bytes=max(child.peak_rss for child in children),
        )
        return wall

    # 5. seed-design baseline
    def baseline(self, payloads: Sequence[Payload], repeat: int) -> None:
        client = self.stack.s3_client()
        prefix = self.stack.name("baseline", repeat)
        started = time.perf_counter()
        for index, payload in enumerate(payloads):
            key = f"{prefix}/{datetime.now(UTC):%Y/%m/%d/%H%M%S%f}-{index}.binpb"
            client.put_object(Bucket=self.stack.bucket, Key=key, Body=payload.value)
        elapsed = time.perf_counter() - started
        self.record("baseline", len(payloads) / elapsed, records=len(payloads), seconds=elapsed)

    # 6. freshness
    def freshness(self, repeat: int) -> None:
        with self.steady_pipeline("fresh", repeat) as (db, group, consumer):
            first = last_change(db) + 1  # the snapshot is in S3: measure the changes from here on
            watcher = ObjectWatcher(self.stack.s3_client(), self.stack.bucket, group, first)
            written = self.write_steadily(
                db,
                f"fresh-writer-{repeat}",
                repeat,
                watcher.poll,
                lambda written: len(watcher.latencies) >= written,
            )
        latencies = list(watcher.latencies.values())
        if len(latencies) < written:
            raise PipelineError(
                f"freshness: only {len(latencies)} of {written} changes reached S3 within "
                f"{DRAIN_TIMEOUT:.0f}s after the writes: see {consumer.log}"
            )
        self.record(
            "freshness_p50", percentile(latencies, 0.5), changes=written, objects=len(watcher.seen)
        )
        self.record(
            "freshness_p99",
            percentile(latencies, 0.99),
            changes=written,
            max_seconds=max(latencies),
        )

    @contextmanager
    def steady_pipeline(
        self, name: str, repeat: int, *consumer_args: str
    ) -> Iterator[tuple[Path, str, Child]]:
        """A producer and a consumer (`--flush-age`, `consumer_args`) on a new database of
        FRESHNESS_CUSTOMERS customers, running: (database, group, consumer) once the snapshot
        is committed. Stopped, and the topic deleted, afterwards."""
        from chinook_pipeline.tools.seed import seed_database
        from shared.kafka import ensure_topic

        options, stack = self.options, self.stack
        db = stack.work / f"{name}-{repeat}.db"
        seed_database(db, FRESHNESS_CUSTOMERS)
        topic, group = stack.name(name, repeat), stack.name(f"{name}-sink", repeat)
        ensure_topic(stack.kafka_settings(), topic, options.partitions)  # subscribed at start
        services = [
            stack.producer(f"{name}-producer-{repeat}", db, topic, options.partitions),
            stack.consumer(
                f"{name}-consumer-{repeat}",
                topic,
                group,
                *("--flush-age", str(options.flush_age), *consumer_args),
                metrics=True,
            ),
        ]
        try:
            wait_for_commits(services[1], FRESHNESS_CUSTOMERS, services)
            yield db, group, services[1]
        finally:
            for child in services:
                child.stop()
        self.delete_topics(topic)

    def write_steadily(
        self,
        db: Path,
        name: str,
        repeat: int,
        poll: Callable[[], None],
        drained: Callable[[int], bool],
    ) -> int:
        """Run `write` on `db` at `--freshness-rate` for `--freshness-seconds`, calling `poll`
        every POLL_SECONDS meanwhile and afterwards, until `drained(changes written)` or
        DRAIN_TIMEOUT; the changes written."""
        options = self.options
        first = last_change(db) + 1
        writer = self.stack.spawn(
            name,
            "write",
            *("--db", str(db), "--rate", str(options.freshness_rate)),
            *("--duration", str(options.freshness_seconds), "--seed", str(repeat)),
        )
        while writer.running():
            poll()
            time.sleep(POLL_SECONDS)
        writer.wait(SERVICE_TIMEOUT)
        written = last_change(db) + 1 - first
        deadline = time.monotonic() + options.flush_age + DRAIN_TIMEOUT
        while not drained(written) and time.monotonic() < deadline:
            poll()
            time.sleep(POLL_SECONDS)
        return written
