"""`chinook-pipeline bench`: what the pipeline achieves on this machine, next to what it could.

Every throughput figure is printed with the ratio to its limit, measured in the same run on the
same broker and S3: the producer against librdkafka producing the same messages (encoded by the
producer's own encoder) with the producer's own librdkafka settings; the consumer against
librdkafka reading the same topic by assignment, and against the seed design (one PutObject per
record); the consumer as a whole process against librdkafka alone in a process that joins a group
and commits. Each figure is measured `--repeat` times; the report gives the median and every run.

The parts: `stack` (broker, S3, bucket), `figures` (each measurement and how it is timed, with
`limits`, `probes`, `raw_consumer`, `table`, `parquet`, `table_freshness`, `state_upsert`,
`capture_tax`), `report` (ratios, targets, the table and the JSON report's shape).
With `--peers`, the same figures for a peer (`peers`): Kafka Connect with the Apache Iceberg sink.
A failed step is reported and the bench goes on with the steps that do not depend on it, then
exits 1.
"""

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chinook_pipeline.bench.report import bench_figures, build_report, format_table
from chinook_pipeline.cli.options import build, options_from
from shared.bucket_name import BUCKET
from shared.errors import PipelineError
from shared.settings import Settings, setting


def parse_sizes(text: str) -> tuple[int, ...]:
    """`10000,100000` -> (10000, 100000); ValueError unless positive integers."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"must be positive integers separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"must be positive integers separated by commas, not {text!r}")
    return sizes


def sizes_rule(text: str) -> None:
    parse_sizes(text)


@dataclass(frozen=True)
class BenchOptions(Settings):
    customers: int = setting(
        200_000, min=1, help="Customers seeded for the throughput figures (one change each)."
    )
    repeat: int = setting(3, min=1, help="Runs of each figure; the report gives the median.")
    partitions: int = setting(6, min=1, help="Partitions of every topic the bench creates.")
    baseline_records: int = setting(
        2000, min=1, help="Records the one-PutObject-per-record baseline uploads."
    )
    freshness_rate: float = setting(
        500.0, min=0.1, help="Changes per second while measuring freshness."
    )
    freshness_seconds: float = setting(
        30.0, min=0.5, help="Seconds of steady writes while measuring freshness."
    )
    flush_age: float = setting(
        1.0, min=0.05, help="Consumer --flush-age while measuring freshness."
    )
    state_sizes: str = setting(
        "10000,100000,1000000",
        rule=sizes_rule,
        help="Customers in the state tables whose upsert cost is measured (comma-separated).",
    )
    backlog: int = setting(
        1_000_000, min=1, help="Changes in the backlog the memory figures work through."
    )
    peers: bool = setting(
        False,
        help="Also measure the peer: Kafka Connect with the Apache Iceberg sink (jars from Maven).",
    )
    bootstrap_servers: str | None = setting(
        None, help="Use this broker instead of starting an embedded Apache Kafka node."
    )
    s3_endpoint_url: str | None = setting(
        None,
        help="Use this S3 endpoint (credentials from the AWS chain) instead of starting moto.",
    )
    bucket: str | None = BUCKET.field(
        default=None,
        shown_default="a new bucket per run",
        help="Existing bucket to write into.",
    )
    out: Path | None = setting(None, help="Write the JSON report here.")
    work_dir: Path | None = setting(
        None,
        directory=True,
        shown_default="a temporary directory, removed after a successful run",
        help="Keep databases and service logs here.",
    )

    @property
    def state_size_list(self) -> tuple[int, ...]:
        return parse_sizes(self.state_sizes)


@click.command()
@options_from(BenchOptions)
def bench(**params: Any) -> None:
    """Measure throughput, limits, freshness, scale-out, memory and table costs; print a table."""
    options = build(BenchOptions, params)
    report = run_bench(options, progress=lambda text: click.echo(text, err=True))
    click.echo(format_table(report))
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"\nreport written to {options.out}")
    if report["errors"]:
        raise PipelineError(f"{len(report['errors'])} bench step(s) failed (listed above)")


def run_bench(options: BenchOptions, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run every figure `options.repeat` times; the report, partial when a step failed."""
    from chinook_pipeline.bench.figures import Bench  # here: the services' start needs neither
    from chinook_pipeline.bench.stack import open_stack

    started = datetime.now(UTC)
    figures = bench_figures(options.state_size_list, options.peers)
    runs: dict[str, list[float]] = {figure.name: [] for figure in figures}
    details: dict[str, Any] = {}
    settings: dict[str, Any] = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()
    }
    errors: list[str] = []
    work = Path(
        tempfile.mkdtemp(prefix="chinook-bench-", dir=options.work_dir and _mkdir(options.work_dir))
    )
    try:
        with open_stack(
            options.bootstrap_servers, options.s3_endpoint_url, options.bucket, work, progress
        ) as stack:
            settings.update(broker=stack.broker_description, s3=stack.s3_description)
            Bench(options, stack, runs, details, errors, progress).run()
    except PipelineError as failure:
        errors.append(str(failure))
    report = build_report(runs, settings, details, started, options.flush_age, errors, figures)
    if errors or options.work_dir:
        progress(f"databases and service logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
