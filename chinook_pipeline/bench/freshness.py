"""Freshness of the objects: for each change written at a steady rate, the seconds from its
commit in SQLite (`captured_at`) to the listing (every 0.1 s) that first shows its object."""

from chinook_pipeline.bench.probes import ObjectWatcher, last_change
from chinook_pipeline.bench.report import percentile
from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.steady import steady_pipeline, write_until_seen
from chinook_pipeline.local.processes import DRAIN_TIMEOUT
from chinook_shared.errors import PipelineError


def freshness(bench: Session, repeat: int) -> None:
    """Figures `freshness_p50` and `freshness_p99`."""
    stack = bench.stack
    with steady_pipeline(bench, "fresh", repeat) as (db, group, consumer):
        first = last_change(db) + 1  # the snapshot is in S3: measure the changes from here on
        watcher = ObjectWatcher(stack.s3_client(), stack.bucket, group, first)
        written, latencies = write_until_seen(
            bench, db, f"fresh-writer-{repeat}", repeat, watcher.poll, watcher.latencies
        )
    if len(latencies) < written:
        raise PipelineError(
            f"freshness: only {len(latencies)} of {written} changes reached S3 within "
            f"{DRAIN_TIMEOUT:.0f}s after the writes: see {consumer.log}"
        )
    bench.record(
        "freshness_p50", percentile(latencies, 0.5), changes=written, objects=len(watcher.seen)
    )
    bench.record(
        "freshness_p99", percentile(latencies, 0.99), changes=written, max_seconds=max(latencies)
    )
