"""`chinook-pipeline bench`: what the pipeline achieves on this machine, next to what it could.

Every throughput figure is printed with the ratio to its limit, measured in the same run on the
same broker and S3: the producer against librdkafka producing the same messages (encoded by the
producer's own encoder) with the producer's own librdkafka settings; the consumer against
librdkafka reading the same topic by assignment, and against the seed design (one PutObject per
record); the consumer as a whole process against librdkafka alone in a process that joins a group
and commits. Each figure is measured `--repeat` times; the report gives the median and every run.

The parts: `settings` (what `bench` takes), `stack` (broker, S3, bucket), `session` (the settings
and the stack the figures run on, and `results`, where their values go), `figures` (the order the
figures run in and how each is timed), the figures themselves (`throughput`, `raw_process`,
`parquet`, `table`, `freshness` and `table_freshness` on `steady`, `state_upsert`,
`capture_tax`, `memory`) with their tools (`databases`, `limits`, `probes`, `raw_consumer`), and
`report` (ratios, targets, the table and the JSON report's shape). With `--peers`, the same
figures for a peer (`peers`): Kafka Connect with the Apache Iceberg sink.
A failed step is reported and the bench goes on with the steps that do not depend on it, then
exits 1.
"""

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chinook_pipeline.bench.report import bench_figures, build_report, format_table
from chinook_pipeline.bench.results import Results
from chinook_pipeline.bench.settings import BenchSettings
from chinook_pipeline.cli.options import build, options_from
from chinook_shared.errors import PipelineError


@click.command()
@options_from(BenchSettings)
def bench(**params: Any) -> None:
    """Measure throughput, limits, freshness, scale-out, memory and table costs; print a table."""
    settings = build(BenchSettings, params)
    report = run_bench(settings, progress=lambda text: click.echo(text, err=True))
    click.echo(format_table(report))
    if settings.out:
        settings.out.parent.mkdir(parents=True, exist_ok=True)
        settings.out.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"\nreport written to {settings.out}")
    if report["errors"]:
        raise PipelineError(f"{len(report['errors'])} bench step(s) failed (listed above)")


def run_bench(settings: BenchSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run every figure `settings.repeat` times; the report, partial when a step failed."""
    from chinook_pipeline.bench.figures import (
        run_figures,
    )  # here: the services' start needs neither
    from chinook_pipeline.bench.session import Session
    from chinook_pipeline.bench.stack import open_stack

    started = datetime.now(UTC)
    figures = bench_figures(settings.state_size_list, settings.peers)
    results = Results({figure.name: figure.unit for figure in figures})
    reported: dict[str, Any] = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
    }
    work = Path(
        tempfile.mkdtemp(
            prefix="chinook-bench-", dir=settings.work_dir and _mkdir(settings.work_dir)
        )
    )
    try:
        with open_stack(
            settings.bootstrap_servers, settings.s3_endpoint_url, settings.bucket, work, progress
        ) as stack:
            reported.update(broker=stack.broker_description, s3=stack.s3_description)
            run_figures(Session(settings, stack, results, progress))
    except PipelineError as failure:
        results.errors.append(str(failure))
    report = build_report(
        results.runs,
        reported,
        results.details,
        started,
        settings.flush_age,
        results.errors,
        figures,
    )
    if results.errors or settings.work_dir:
        progress(f"databases and service logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
