"""The status lines of `dev`: every service's health and progress, the producer's and each
sink's (Protobuf objects, Parquet objects, tables), so that a sink in trouble shows at once."""

from collections.abc import Mapping
from typing import Final

from chinook_pipeline.local.processes import Child
from chinook_shared import names

REASON_CHARS: Final = 160  # a degraded or failing sink's first reason, cut to this length


def status_line(producer: Child, sinks: Mapping[str, Child]) -> str:
    """`producer ok captured=.. | objects ok ... lag=.. | parquet ... | tables ...`: `sinks`
    maps each sink's label to its consumer."""
    return " | ".join(
        [producer_status(producer), *(sink_status(label, sink) for label, sink in sinks.items())]
    )


def producer_status(producer: Child) -> str:
    p = producer.metrics()
    return (
        f"producer {_health(producer)} captured={p.get(names.PRODUCER_ROWS_CAPTURED, 0):.0f} "
        f"published={p.get(names.PRODUCER_MESSAGES_PUBLISHED, 0):.0f} "
        f"source_lag={p.get(names.PRODUCER_SOURCE_LAG, 0):.0f}"
    )


def sink_status(label: str, sink: Child) -> str:
    """A consumer's health, lag and committed offsets, and what it uploaded (objects only)."""
    c = sink.metrics()
    uploaded = c.get(names.CONSUMER_OBJECTS_UPLOADED, 0)
    objects = f" uploaded={uploaded:.0f}" if uploaded else ""
    return (
        f"{label} {_health(sink)} consumed={c.get(names.CONSUMER_RECORDS_CONSUMED, 0):.0f}"
        f"{objects} committed={c.get(names.CONSUMER_OFFSETS_COMMITTED, 0):.0f} "
        f"lag={c.get(names.CONSUMER_LAG, 0):.0f}"
    )


def _health(child: Child) -> str:
    status, reasons = child.health()
    if status == "ok" or not reasons:
        return status
    return f"{status.upper()} ({reasons[0][:REASON_CHARS]})"
