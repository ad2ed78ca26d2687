"""The measurements, in order: each figure of `report.FIGURES`, `repeat` times, on one stack.

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
- Raw produce and raw consume: see `limits`; the rest of the throughput figures: `throughput`.
- Freshness: a steady `write` workload on a running producer and consumer (`--flush-age`); for
  each change, the time from its commit in SQLite (`captured_at`) to the listing (every 0.1 s)
  that first shows its object (`freshness`, on `steady`). The same for the Iceberg tables:
  `table_freshness`.
- The state table's upsert cost at `--state-sizes` customers: `state_upsert`.
- Memory: the peak RSS of each service working through a backlog: `memory`.
- With `--peers`: Kafka Connect with the Apache Iceberg sink, beside `consumer --table`: `peers`.
"""

from chinook_pipeline.bench import capture_tax, state_upsert
from chinook_pipeline.bench.databases import seed
from chinook_pipeline.bench.freshness import freshness
from chinook_pipeline.bench.limits import messages
from chinook_pipeline.bench.memory import memory
from chinook_pipeline.bench.parquet import parquet_consumer
from chinook_pipeline.bench.peers.iceberg import peer_freshness, peer_table
from chinook_pipeline.bench.raw_process import raw_consume_process
from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.table import table_consumer
from chinook_pipeline.bench.table_freshness import table_freshness
from chinook_pipeline.bench.throughput import (
    CONSUMER_COUNTS,
    baseline,
    consumers,
    producer,
    raw_consume,
    raw_produce,
)


def run_figures(bench: Session) -> None:
    """Every figure, `repeat` times each; a failed step is recorded and the bench goes on with
    the steps that do not depend on it."""
    _throughput(bench)
    _freshness(bench)
    sizes = bench.settings.state_size_list
    state_upsert.measure_sizes(bench, seed(bench, "state", max(sizes)), sizes)
    _capture_tax(bench)
    _memory(bench)


def _throughput(bench: Session) -> None:
    """The services against their limits, and the other consumers on the same topic."""
    settings, attempt = bench.settings, bench.attempt
    pristine = seed(bench, "customers", settings.customers)
    payloads = messages(pristine, bench.stack.work / "messages.db")
    for repeat in range(1, settings.repeat + 1):
        bench.say(f"run {repeat}/{settings.repeat}: throughput on {len(payloads):,} changes")
        attempt(f"raw_produce (run {repeat})", raw_produce, bench, payloads, repeat)
        topic = attempt(f"producer (run {repeat})", producer, bench, pristine, repeat)
        total = attempt(f"raw_consume (run {repeat})", raw_consume, bench, topic) if topic else None
        if total:
            attempt(
                f"raw_consume_process (run {repeat})",
                raw_consume_process,
                bench,
                topic,
                total,
                repeat,
            )
            for count in CONSUMER_COUNTS:
                name = "consumer" if count == 1 else f"consumers_{count}"
                attempt(f"{name} (run {repeat})", consumers, bench, topic, total, count, repeat)
            for step, figure in (
                ("consumer_parquet", parquet_consumer),
                ("consumer_table", table_consumer),
            ):
                attempt(f"{step} (run {repeat})", figure, bench, topic, total, repeat)
            if settings.peers:
                attempt(f"peer_table (run {repeat})", peer_table, bench, topic, total, repeat)
        attempt(
            f"baseline (run {repeat})",
            baseline,
            bench,
            payloads[: settings.baseline_records],
            repeat,
        )
        if topic:
            bench.stack.delete_topics(topic)


def _freshness(bench: Session) -> None:
    """Objects, then tables (and the peer's table), under steady writes."""
    settings = bench.settings
    for repeat in range(1, settings.repeat + 1):
        bench.say(
            f"run {repeat}/{settings.repeat}: freshness at {settings.freshness_rate:g} changes/s"
        )
        bench.attempt(f"freshness (run {repeat})", freshness, bench, repeat)
    for repeat in range(1, settings.repeat + 1):
        bench.say(
            f"run {repeat}/{settings.repeat}: table freshness at "
            f"{settings.freshness_rate:g} changes/s"
        )
        bench.attempt(f"table freshness (run {repeat})", table_freshness, bench, repeat)
        if settings.peers:
            bench.attempt(f"peer freshness (run {repeat})", peer_freshness, bench, repeat)


def _capture_tax(bench: Session) -> None:
    settings = bench.settings
    taxed = seed(bench, "capture-tax", capture_tax.CUSTOMERS)
    for repeat in range(1, settings.repeat + 1):
        bench.say(f"run {repeat}/{settings.repeat}: capture tax on the application's writes")
        bench.attempt(
            f"capture tax (run {repeat})",
            capture_tax.measure,
            bench.record,
            taxed,
            bench.stack.work,
            repeat,
        )


def _memory(bench: Session) -> None:
    settings = bench.settings
    backlog = seed(bench, "backlog", settings.backlog)
    for repeat in range(1, settings.repeat + 1):
        bench.say(
            f"run {repeat}/{settings.repeat}: memory on a backlog of {settings.backlog:,} changes"
        )
        bench.attempt(f"memory (run {repeat})", memory, bench, backlog, repeat)
