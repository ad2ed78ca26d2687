"""The bench's report: each figure's median, its ratios to its limits, the targets, as JSON and text.

The JSON report (`--out`) has this shape (version 1):

    {
      "version": 1,
      "date": "2026-11-25T17:30:00+00:00",             # UTC, when the run started
      "machine": {"cpu_count": 2, "platform": "...", "python": "3.11.9"},
      "settings": {"customers": 200000, "repeat": 3, ...every option..., "broker": "...",
                   "s3": "..."},
      "figures": {                                      # every name in FIGURES, in that order,
                                                        # then state_upsert_<changes>_at_<customers>
                                                        # and state_upsert_rss_<changes>_at_<customers>
                                                        # for each of --state-sizes, then
                                                        # state_maintenance_at_<customers> and
                                                        # state_maintenance_rss_at_<customers>,
                                                        # state_read_after_flushes,
                                                        # state_read_after_maintenance, then
                                                        # PEER_FIGURES with --peers
        "<name>": {"label": "...", "unit": "messages/s" | "changes/s" | "records/s" | "s" | "MB" | "files",
                   "median": 1234.5, "runs": [1200.1, 1234.5, 1300.2],
                   "ratios": {"<other figure>": 0.81}}  # median / the other figure's median
      },
      "targets": [{"figure": "producer", "rule": ">= 0.6 x raw_produce", "threshold": 98000.0,
                   "value": 80000.0, "met": false}],
      "details": {"<name>": {...}},                     # counts behind the figures
      "errors": ["consumers_2 (run 1): ..."]            # steps that failed; [] when all worked
    }

A figure no run produced has `"median": null` and `"runs": []`.
"""

import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from chinook_pipeline.bench import capture_tax, state_upsert
from chinook_pipeline.bench.results import format_number

FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str


FIGURES: Final = (
    Figure("raw_produce", "raw produce limit (librdkafka, same messages)", "messages/s"),
    Figure("producer", "producer: SQLite -> topic", "changes/s"),
    Figure("producer_process", "producer: SQLite -> topic, whole process", "changes/s"),
    Figure("raw_consume", "raw consume limit (librdkafka, by assignment)", "messages/s"),
    Figure(
        "raw_consume_process",
        "raw consume limit, whole process (librdkafka, group join, commits)",
        "messages/s",
    ),
    Figure("group_join", "group join: raw consumer process start -> first assignment", "s"),
    Figure("consumer", "consumer: topic -> S3, committed", "records/s"),
    Figure("consumer_process", "consumer: topic -> S3, committed, whole process", "records/s"),
    Figure("consumer_first_record", "consumer: process start -> first record consumed", "s"),
    Figure("consumer_parquet", "consumer --format parquet: topic -> S3, committed", "records/s"),
    Figure(
        "consumer_table", "consumer --table: topic -> Iceberg change table, committed", "records/s"
    ),
    Figure("consumer_table_run_rss", "consumer --table peak RSS, same topic", "MB"),
    Figure("table_files_per_commit", "consumer --table data files per commit", "files"),
    Figure("bytes_protobuf", "Protobuf objects (gzip) per record", "bytes"),
    Figure("bytes_parquet", "Parquet objects (zstd) per record", "bytes"),
    Figure("baseline", "seed design: one PutObject per record", "records/s"),
    Figure("freshness_p50", "freshness p50: SQLite commit -> readable in S3", "s"),
    Figure("freshness_p99", "freshness p99: SQLite commit -> readable in S3", "s"),
    Figure("table_freshness_p50", "freshness p50: SQLite commit -> Iceberg change table", "s"),
    Figure("table_freshness_p99", "freshness p99: SQLite commit -> Iceberg change table", "s"),
    Figure("state_freshness_p50", "freshness p50: SQLite commit -> Iceberg state table", "s"),
    Figure("state_freshness_p99", "freshness p99: SQLite commit -> Iceberg state table", "s"),
    Figure("consumers_2", "2 consumers in one group", "records/s"),
    Figure("consumers_3", "3 consumers in one group", "records/s"),
    Figure("producer_rss", "producer peak RSS on the backlog", "MB"),
    Figure("consumer_rss", "consumer peak RSS on the backlog", "MB"),
    Figure("consumer_table_rss", "consumer --table peak RSS on the backlog", "MB"),
    *(Figure(name, label, unit) for name, (label, unit) in capture_tax.FIGURES.items()),
)
# `bench --peers`: Kafka Connect with the Apache Iceberg sink, reading a JSON copy of the topic.
PEER_FIGURES: Final = (
    Figure("peer_table", "peer (Connect + Iceberg sink, JSON copy): topic -> table", "records/s"),
    Figure("peer_table_process", "peer: topic -> committed table, whole process", "records/s"),
    Figure("peer_table_rss", "peer: Connect JVM peak RSS, same topic", "MB"),
    Figure("peer_files_per_commit", "peer: data files per commit", "files"),
    Figure("peer_freshness_p50", "peer freshness p50: SQLite commit -> Iceberg table", "s"),
    Figure("peer_freshness_p99", "peer freshness p99: SQLite commit -> Iceberg table", "s"),
)
RATIOS: Final = {
    "producer": ("raw_produce",),
    "producer_process": ("raw_produce",),
    "raw_consume_process": ("raw_consume",),
    "consumer": ("raw_consume", "baseline"),
    "consumer_process": ("raw_consume_process", "raw_consume"),
    "consumer_parquet": ("raw_consume", "consumer"),
    "consumer_table": ("raw_consume", "consumer"),
    "bytes_parquet": ("bytes_protobuf",),
    "consumers_2": ("consumer",),
    "consumers_3": ("consumer",),
    "peer_table": ("consumer_table",),
    "peer_table_process": ("consumer_table",),
    "peer_table_rss": ("consumer_table_run_rss",),
    "peer_files_per_commit": ("table_files_per_commit",),
    "peer_freshness_p50": ("table_freshness_p50",),
    "peer_freshness_p99": ("table_freshness_p99",),
}


@dataclass(frozen=True)
class Target:
    """`figure` `op` `factor` x `reference` (or `op` `factor` when there is no reference)."""

    figure: str
    op: str
    factor: float
    reference: str | None = None

    @property
    def rule(self) -> str:
        return f"{self.op} {self.factor:g}" + (f" x {self.reference}" if self.reference else "")


def bench_figures(state_sizes: Sequence[int], peers: bool = False) -> tuple[Figure, ...]:
    """FIGURES, then the state table's figures for `state_sizes` (`state_upsert.figures`), then
    PEER_FIGURES with `peers`."""
    return (
        FIGURES
        + tuple(Figure(*figure) for figure in state_upsert.figures(state_sizes))
        + (PEER_FIGURES if peers else ())
    )


def targets(flush_age: float) -> tuple[Target, ...]:
    """The targets, some relative to the consumer's `flush_age` (seconds).

    Freshness: a change waits in the consumer until its partition's batch is `flush_age` old, so
    p99 <= flush age + 0.5 s leaves half a second for the rest (the producer's poll and publish,
    the upload, the bench's 0.1 s listing). The change table gets flush age + 1.0 s: instead of
    an upload, a commit to it (0.2-0.3 s on moto), and a batch that becomes due while the
    previous group commit of both tables runs waits for it. The state table is committed after
    the change table, with an upsert (a scan of the matched rows, a copy-on-write delete, an
    append: about 0.5 s at the freshness figures' 1,000 customers), hence flush age + 2.0 s.
    The state table's flush targets (`state_upsert.TARGETS`) are checked at the sizes
    `--state-sizes` measures.
    """
    return (
        Target("producer", ">=", 0.6, "raw_produce"),
        Target("producer_process", ">=", 0.5, "raw_produce"),
        Target("consumer", ">=", 0.75, "raw_consume"),
        Target("consumer", ">=", 500, "baseline"),
        Target("consumer_parquet", ">=", 0.8, "raw_consume"),
        Target("consumer_table", ">=", 0.5, "raw_consume"),
        Target("freshness_p99", "<=", flush_age + 0.5),
        Target("table_freshness_p99", "<=", flush_age + 1.0),
        Target("state_freshness_p99", "<=", flush_age + 2.0),
        Target("consumers_2", ">=", 1.6, "consumer"),
        Target("consumer_rss", "<=", 250),
        Target("producer_rss", "<=", 150),
        *(Target(name, "<=", limit) for name, limit in capture_tax.TARGETS.items()),
        *(Target(name, "<=", limit) for name, limit in state_upsert.TARGETS.items()),
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def build_report(
    runs: Mapping[str, Sequence[float]],
    settings: Mapping[str, Any],
    details: Mapping[str, Any],
    started: datetime,
    flush_age: float,
    errors: Sequence[str] = (),
    figures: Sequence[Figure] = FIGURES,
) -> dict[str, Any]:
    """The JSON report (shape in the module docstring) from the raw runs of each of `figures`
    (`bench_figures` of the run's state sizes)."""
    medians = {figure.name: median(runs.get(figure.name, ())) for figure in figures}
    return {
        "version": FORMAT_VERSION,
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": dict(settings),
        "figures": {
            figure.name: _figure(figure, medians, runs.get(figure.name, ())) for figure in figures
        },
        "targets": [  # a state size --state-sizes leaves out has no figure, nor target
            _checked(target, medians) for target in targets(flush_age) if target.figure in medians
        ],
        "details": dict(details),
        "errors": list(errors),
    }


def _figure(
    figure: Figure, medians: Mapping[str, float | None], runs: Sequence[float]
) -> dict[str, Any]:
    ratios = {}
    for reference in RATIOS.get(figure.name, ()):
        value, limit = medians[figure.name], medians.get(reference)
        if value is not None and limit:
            ratios[reference] = value / limit
    return {
        "label": figure.label,
        "unit": figure.unit,
        "median": medians[figure.name],
        "runs": list(runs),
        "ratios": ratios,
    }


def _checked(target: Target, medians: Mapping[str, float | None]) -> dict[str, Any]:
    value = medians[target.figure]
    base = medians[target.reference] if target.reference else 1.0
    threshold = None if base is None else target.factor * base
    met = None
    if value is not None and threshold is not None:
        met = value >= threshold if target.op == ">=" else value <= threshold
    return {
        "figure": target.figure,
        "rule": target.rule,
        "threshold": threshold,
        "value": value,
        "met": met,
    }


def format_table(report: Mapping[str, Any]) -> str:
    """The report as a text table: one line per figure, its ratios, its targets."""
    machine, figures = report["machine"], report["figures"]
    by_figure: dict[str, list[Mapping[str, Any]]] = {}
    for target in report["targets"]:
        by_figure.setdefault(target["figure"], []).append(target)
    width = max(len(figure["label"]) for figure in figures.values())
    lines = [
        f"chinook-pipeline bench, {report['date']}, {machine['cpu_count']} cores, "
        f"median of {report['settings'].get('repeat')} run(s)",
        "",
    ]
    for name, figure in figures.items():
        value = format_number(figure["median"])
        notes = [f"{ratio:.2f} x {reference}" for reference, ratio in figure["ratios"].items()]
        for target in by_figure.get(name, ()):
            verdict = {True: "ok", False: "MISSED", None: "n/a"}[target["met"]]
            notes.append(f"target {target['rule']}: {verdict}")
        lines.append(
            f"{figure['label']:<{width}}  {value:>10} {figure['unit']:<10}  {'; '.join(notes)}"
        )
    lines += [f"failed: {error}" for error in report["errors"]]
    return "\n".join(lines)
