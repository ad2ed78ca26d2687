"""`chinook-pipeline bench`: what the pipeline achieves on this machine, next to what it could.

Every throughput figure is printed with the ratio to its limit, measured in the same run on the
same broker and S3: the producer against librdkafka producing the same messages (encoded by the
producer's own encoder) with the producer's own librdkafka settings; the consumer against
librdkafka reading the same topic by assignment, and against the seed design (one PutObject per
record). Each figure is measured `--repeat` times; the report gives the median and every run.

How each figure is timed:
- The services run as separate processes (`python -m chinook_pipeline producer|consumer
  --exit-when-idle`), exactly as a user runs them. Their rate counts from the first change
  read from SQLite / record consumed (seen on the service's /metrics) to the exit of the last process,
  i.e. after the last acknowledgement / commit; interpreter start-up and the consumer-group join
  (seconds on Tansu) are left out. `details` keeps the wall time from process start as well.
- Raw produce: from the first produce to the last acknowledgement (after one warm-up message).
  Raw consume: from the assignment to the last message received (the end of each partition is
  the `_PARTITION_EOF` offset, never ListOffsets, which Tansu answers wrongly).
- Freshness: a steady `write` workload on a running producer and consumer (`--flush-age`); for
  each change, the time from its commit in SQLite (`captured_at`) to the listing (every 0.1 s)
  that first shows its object.
- Memory: the peak RSS of each service process (its VmHWM, read while the bench polls it for
  exit) working through a backlog.

The JSON report (`--out`) has this shape (version 1):

    {
      "version": 1,
      "date": "2026-11-25T17:30:00+00:00",             # UTC, when the run started
      "machine": {"cpu_count": 2, "platform": "...", "python": "3.11.9"},
      "settings": {"customers": 200000, "repeat": 3, ...every option..., "broker": "...",
                   "s3": "..."},
      "figures": {                                      # every name in FIGURES, in that order
        "<name>": {"label": "...", "unit": "messages/s" | "changes/s" | "records/s" | "s" | "MB",
                   "median": 1234.5, "runs": [1200.1, 1234.5, 1300.2],
                   "ratios": {"<other figure>": 0.81}}  # median / the other figure's median
      },
      "targets": [{"figure": "producer", "rule": ">= 0.6 x raw_produce", "threshold": 98000.0,
                   "value": 80000.0, "met": false}],
      "details": {"<name>": {...}},                     # counts behind the figures
      "errors": ["consumers_2 (run 1): ..."]            # steps that failed; [] when all worked
    }

A failed step is reported and the bench goes on with the steps that do not depend on it, then
exits 1; a figure no run produced has `"median": null` and `"runs": []`.
"""

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from chinook_pipeline.cli.options import option
from chinook_pipeline.local import embedded
from shared.errors import PipelineError

FORMAT_VERSION: Final = 1
MB: Final = 1_000_000
CONSUMER_COUNTS: Final = (1, 2, 3)
FRESHNESS_CUSTOMERS: Final = 1000
POLL_SECONDS: Final = 0.1
SERVICE_TIMEOUT: Final = 1800.0
DRAIN_TIMEOUT: Final = 120.0
T = TypeVar("T")
PRODUCER_ACTIVITY: Final = "chinook_producer_rows_captured_total"
CONSUMER_ACTIVITY: Final = "chinook_consumer_records_consumed_total"


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str


FIGURES: Final = (
    Figure("raw_produce", "raw produce limit (librdkafka, same messages)", "messages/s"),
    Figure("producer", "producer: SQLite -> topic", "changes/s"),
    Figure("raw_consume", "raw consume limit (librdkafka, by assignment)", "messages/s"),
    Figure("consumer", "consumer: topic -> S3, committed", "records/s"),
    Figure("consumer_parquet", "consumer --format parquet: topic -> S3, committed", "records/s"),
    Figure("bytes_protobuf", "Protobuf objects (gzip) per record", "bytes"),
    Figure("bytes_parquet", "Parquet objects (zstd) per record", "bytes"),
    Figure("baseline", "seed design: one PutObject per record", "records/s"),
    Figure("freshness_p50", "freshness p50: SQLite commit -> readable in S3", "s"),
    Figure("freshness_p99", "freshness p99: SQLite commit -> readable in S3", "s"),
    Figure("consumers_2", "2 consumers in one group", "records/s"),
    Figure("consumers_3", "3 consumers in one group", "records/s"),
    Figure("producer_rss", "producer peak RSS on the backlog", "MB"),
    Figure("consumer_rss", "consumer peak RSS on the backlog", "MB"),
)
RATIOS: Final = {
    "producer": ("raw_produce",),
    "consumer": ("raw_consume", "baseline"),
    "consumer_parquet": ("raw_consume", "consumer"),
    "bytes_parquet": ("bytes_protobuf",),
    "consumers_2": ("consumer",),
    "consumers_3": ("consumer",),
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


def targets(flush_age: float) -> tuple[Target, ...]:
    return (
        Target("producer", ">=", 0.6, "raw_produce"),
        Target("consumer", ">=", 0.75, "raw_consume"),
        Target("consumer", ">=", 500, "baseline"),
        Target("consumer_parquet", ">=", 0.8, "raw_consume"),
        Target("freshness_p99", "<=", flush_age + 1.0),
        Target("consumers_2", ">=", 1.6, "consumer"),
        Target("consumer_rss", "<=", 250),
        Target("producer_rss", "<=", 150),
    )


# --- pure: statistics and the report ------------------------------------------------------------


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
) -> dict[str, Any]:
    """The JSON report (shape in the module docstring) from the raw runs of each figure."""
    medians = {figure.name: median(runs.get(figure.name, ())) for figure in FIGURES}
    figures: dict[str, Any] = {}
    for figure in FIGURES:
        ratios = {}
        for reference in RATIOS.get(figure.name, ()):
            value, limit = medians[figure.name], medians[reference]
            if value is not None and limit:
                ratios[reference] = value / limit
        figures[figure.name] = {
            "label": figure.label,
            "unit": figure.unit,
            "median": medians[figure.name],
            "runs": list(runs.get(figure.name, ())),
            "ratios": ratios,
        }
    checked = []
    for target in targets(flush_age):
        value = medians[target.figure]
        base = medians[target.reference] if target.reference else 1.0
        threshold = None if base is None else target.factor * base
        met = None
        if value is not None and threshold is not None:
            met = value >= threshold if target.op == ">=" else value <= threshold
        checked.append(
            {
                "figure": target.figure,
                "rule": target.rule,
                "threshold": threshold,
                "value": value,
                "met": met,
            }
        )
    return {
        "version": FORMAT_VERSION,
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": dict(settings),
        "figures": figures,
        "targets": checked,
        "details": dict(details),
        "errors": list(errors),
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
        value = _number(figure["median"])
        notes = [f"{ratio:.2f} x {reference}" for reference, ratio in figure["ratios"].items()]
        for target in by_figure.get(name, ()):
            verdict = {True: "ok", False: "MISSED", None: "n/a"}[target["met"]]
            notes.append(f"target {target['rule']}: {verdict}")
        lines.append(
            f"{figure['label']:<{width}}  {value:>10} {figure['unit']:<10}  {'; '.join(notes)}"
        )
    lines += [f"failed: {error}" for error in report["errors"]]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.3f}"


# --- options and the command --------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    customers: int
    repeat: int
    partitions: int
    baseline_records: int
    freshness_rate: float
    freshness_seconds: float
    flush_age: float
    backlog: int
    bootstrap_servers: str | None
    s3_endpoint_url: str | None
    bucket: str | None
    out: Path | None
    work_dir: Path | None


@click.command()
@option(
    "--customers",
    type=click.IntRange(1),
    default=200_000,
    help="Customers seeded for the throughput figures (one change each).",
)
@option(
    "--repeat",
    type=click.IntRange(1),
    default=3,
    help="Runs of each figure; the report gives the median.",
)
@option(
    "--partitions",
    type=click.IntRange(1),
    default=6,
    help="Partitions of every topic the bench creates.",
)
@option(
    "--baseline-records",
    type=click.IntRange(1),
    default=2000,
    help="Records the one-PutObject-per-record baseline uploads.",
)
@option(
    "--freshness-rate",
    type=click.FloatRange(0.1),
    default=500.0,
    help="Changes per second while measuring freshness.",
)
@option(
    "--freshness-seconds",
    type=click.FloatRange(0.5),
    default=30.0,
    help="Seconds of steady writes while measuring freshness.",
)
@option(
    "--flush-age",
    type=click.FloatRange(0.05),
    default=1.0,
    help="Consumer --flush-age while measuring freshness.",
)
@option(
    "--backlog",
    type=click.IntRange(1),
    default=1_000_000,
    help="Changes in the backlog the memory figures work through.",
)
@option("--bootstrap-servers", help="Use this broker instead of starting an embedded Tansu.")
@option(
    "--s3-endpoint-url",
    help="Use this S3 endpoint (credentials from the AWS chain) instead of starting moto.",
)
@option("--bucket", help="Existing bucket to write into [default: a new bucket per run].")
@option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here."
)
@option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep databases and service logs here [default: a temporary directory, removed after a successful run].",
)
def bench(**params: Any) -> None:
    """Measure throughput, limits, freshness, scale-out and memory on real parts; print a table."""
    options = BenchOptions(**params)
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
    started = datetime.now(UTC)
    runs: dict[str, list[float]] = {figure.name: [] for figure in FIGURES}
    details: dict[str, Any] = {}
    settings: dict[str, Any] = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()
    }
    errors: list[str] = []
    work = Path(
        tempfile.mkdtemp(prefix="chinook-bench-", dir=options.work_dir and _mkdir(options.work_dir))
    )
    try:
        with _stack(options, work, progress) as stack:
            settings.update(broker=stack.broker_description, s3=stack.s3_description)
            Bench(options, stack, runs, details, errors, progress).run()
    except PipelineError as failure:
        errors.append(str(failure))
    report = build_report(runs, settings, details, started, options.flush_age, errors)
    if errors or options.work_dir:
        progress(f"databases and service logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the parts: broker, S3, child processes ------------------------------------------------------


@dataclass
class Stack:
    """Where the bench runs: broker, S3 endpoint and bucket, and the environment children get."""

    bootstrap_servers: str
    s3_endpoint_url: str | None
    bucket: str
    env: dict[str, str]
    work: Path
    broker_description: str
    s3_description: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def name(self, *parts: object) -> str:
        """A topic, group or prefix name unique to this bench run."""
        return ".".join(["bench", self.run_id, *(str(part) for part in parts)])

    def kafka_settings(self) -> Any:
        from shared.kafka import KafkaSettings

        return KafkaSettings(bootstrap_servers=self.bootstrap_servers)

    def s3_client(self) -> Any:
        from shared.s3 import S3Settings, make_client

        return make_client(S3Settings(endpoint_url=self.s3_endpoint_url))

    def spawn(self, name: str, *args: str, metrics: bool = False) -> "Child":
        """Start `python -m chinook_pipeline ARGS`; its output goes to `<work>/logs/<name>.log`.

        With `metrics`, a service gets a free `--metrics-port` and the child its /metrics URL.
        """
        log = self.work / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        port = embedded.free_port() if metrics else None
        argv = [
            sys.executable,
            "-m",
            "chinook_pipeline",
            *args,
            *(["--metrics-port", str(port)] if port else []),
        ]
        started = time.monotonic()
        process = embedded.spawn(argv, env=self.env, log=log)
        return Child(
            name, process, log, started, f"http://127.0.0.1:{port}/metrics" if port else ""
        )

    def s3_args(self) -> list[str]:
        return ["--s3-endpoint-url", self.s3_endpoint_url] if self.s3_endpoint_url else []


def _high_water_rss(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, bytes; 0 once it is gone).

    Not wait4's ru_maxrss: Linux carries that across fork and exec, so a child forked from this
    (large) bench process would report the bench's own size."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Child:
    """A service process; `wait` gives its exit code, wall time and peak RSS (VmHWM)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float
    metrics_url: str = ""
    elapsed: float = 0.0
    peak_rss: int = 0

    def running(self) -> bool:
        """False once it has exited (then reaped, with its exit code, wall time and peak RSS)."""
        if self.process.returncode is not None:
            return False
        self.peak_rss = max(self.peak_rss, _high_water_rss(self.process.pid))
        pid, status, _usage = os.wait4(self.process.pid, os.WNOHANG)
        if not pid:
            return True
        self.elapsed = time.monotonic() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return False

    def wait(self, timeout: float = SERVICE_TIMEOUT) -> "Child":
        """Wait for exit; PipelineError (with the log's tail) unless it exits 0 within `timeout`."""
        deadline = self.started + timeout
        while self.running():
            if time.monotonic() > deadline:
                embedded.stop(self.process)
                raise PipelineError(
                    f"{self.name} did not finish within {timeout:.0f}s: see {self.log}"
                )
            time.sleep(0.01)
        if self.process.returncode != 0:
            raise PipelineError(
                f"{self.name} exited with code {self.process.returncode}: see {self.log}: {_tail(self.log)}"
            )
        return self

    def stop(self) -> None:
        """SIGTERM (graceful: flush and commit), SIGKILL if it hangs."""
        embedded.stop(self.process, timeout=60)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


@contextmanager
def _stack(options: BenchOptions, work: Path, progress: Callable[[str], None]) -> Iterator[Stack]:
    """The given endpoints, or an embedded Tansu (memory storage) and moto started here."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINOOK_")}
    with ExitStack() as cleanup:
        s3_endpoint, s3_description = options.s3_endpoint_url, f"S3 at {options.s3_endpoint_url}"
        if s3_endpoint is None and not os.environ.get("AWS_ENDPOINT_URL_S3"):
            server = embedded.start_s3(log=work / "moto.log")
            cleanup.callback(server.stop)
            _set_environ(cleanup, server.env)  # this process's own S3 client, until the end
            env.update(server.env)
            s3_endpoint, s3_description = (
                server.endpoint_url,
                f"embedded moto at {server.endpoint_url}",
            )
        elif s3_endpoint is None:
            s3_description = f"S3 at AWS_ENDPOINT_URL_S3={os.environ['AWS_ENDPOINT_URL_S3']}"
        bootstrap, broker_description = (
            options.bootstrap_servers,
            f"broker at {options.bootstrap_servers}",
        )
        if bootstrap is None:
            broker = embedded.start_broker(log=work / "tansu.log")
            cleanup.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
            broker_description = f"embedded Tansu (memory storage) at {bootstrap}"
        stack = Stack(
            bootstrap,
            s3_endpoint,
            options.bucket or "",
            env,
            work,
            broker_description,
            s3_description,
        )
        if not options.bucket:
            stack.bucket = f"chinook-bench-{stack.run_id}"
            stack.s3_client().create_bucket(Bucket=stack.bucket)
        progress(
            f"bench: {broker_description}; {s3_description}, bucket {stack.bucket}; work in {work}"
        )
        yield stack


def _set_environ(cleanup: ExitStack, values: Mapping[str, str]) -> None:
    """Set environment variables now and restore their previous state when `cleanup` closes."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)

    def restore() -> None:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    cleanup.callback(restore)


# --- the measurements ----------------------------------------------------------------------------


class Bench:
    """Runs each figure `repeat` times, appending to `runs` (figure -> values) and `details`."""

    def __init__(
        self,
        options: BenchOptions,
        stack: Stack,
        runs: dict[str, list[float]],
        details: dict[str, Any],
        errors: list[str],
        progress: Callable[[str], None],
    ) -> None:
        self.options, self.stack, self.runs, self.details = options, stack, runs, details
        self.errors, self.say = errors, progress

    def record(self, figure: str, value: float, **detail: Any) -> None:
        self.runs[figure].append(value)
        self.details.setdefault(figure, []).append(detail)
        unit = next(f.unit for f in FIGURES if f.name == figure)
        self.say(f"  {figure}: {_number(value)} {unit}")

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
        payloads = messages(pristine)
        for repeat in range(1, options.repeat + 1):
            self.say(f"run {repeat}/{options.repeat}: throughput on {len(payloads):,} changes")
            self.attempt(f"raw_produce (run {repeat})", self.raw_produce, payloads, repeat)
            topic = self.attempt(f"producer (run {repeat})", self.producer, pristine, repeat)
            total = (
                self.attempt(f"raw_consume (run {repeat})", self.raw_consume, topic)
                if topic
                else None
            )
            for count in CONSUMER_COUNTS if total else ():
                name = "consumer" if count == 1 else f"consumers_{count}"
                self.attempt(f"{name} (run {repeat})", self.consumers, topic, total, count, repeat)
            if total:
                from chinook_pipeline.bench.parquet import parquet_consumer

                self.attempt(
                    f"consumer_parquet (run {repeat})", parquet_consumer, self, topic, total, repeat
                )
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
        backlog = self.seed("backlog", options.backlog)
        for repeat in range(1, options.repeat + 1):
            self.say(
                f"run {repeat}/{options.repeat}: memory on a backlog of {options.backlog:,} changes"
            )
            self.attempt(f"memory (run {repeat})", self.memory, backlog, repeat)

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
    def raw_produce(self, payloads: Sequence["Payload"], repeat: int) -> None:
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
        active, wall = run_to_exit([child], PRODUCER_ACTIVITY)
        self.record(
            "producer",
            self.options.customers / active,
            changes=self.options.customers,
            active_seconds=active,
            wall_seconds=wall,
            peak_rss_bytes=child.peak_rss,
        )
        return topic

    def run_producer(self, db: Path, topic: str, name: str) -> "Child":
        return self.stack.spawn(
            name,
            "producer",
            "--db",
            str(db),
            *self.kafka_args(topic),
            "--partitions",
            str(self.options.partitions),
            "--exit-when-idle",
            metrics=True,
        )

    def kafka_args(self, topic: str) -> list[str]:
        return [
            "--bootstrap-servers",
            self.stack.bootstrap_servers,
            "--topic",
            topic,
            "--log-level",
            "INFO",
        ]

    def consumer_args(self, topic: str, group: str, *extra: str) -> list[str]:
        return [
            "consumer",
            *self.kafka_args(topic),
            "--bucket",
            self.stack.bucket,
            "--prefix",
            group,
            "--group-id",
            group,
            *self.stack.s3_args(),
            *extra,
        ]

    # 3. raw consume limit
    def raw_consume(self, topic: str) -> int:
        elapsed, ends = consume_all(
            self.stack.kafka_settings().client_config(), topic, self.options.partitions
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
        group = self.stack.name("sink", repeat, count)
        children = [
            self.stack.spawn(
                f"consumer-{repeat}-{count}-{i}",
                *self.consumer_args(topic, group, "--exit-when-idle"),
                metrics=True,
            )
            for i in range(count)
        ]
        active, wall = run_to_exit(children, CONSUMER_ACTIVITY)
        committed = committed_offsets(
            self.stack.kafka_settings().client_config(), topic, group, self.options.partitions
        )
        if sum(committed.values()) != total:
            raise PipelineError(
                f"{count} consumer(s) exited having committed {sum(committed.values())} of {total} "
                f"records of {topic}: see {children[0].log}"
            )
        figure = "consumer" if count == 1 else f"consumers_{count}"
        self.record(
            figure,
            total / active,
            records=total,
            active_seconds=active,
            wall_seconds=wall,
            processes=count,
            peak_rss_bytes=max(child.peak_rss for child in children),
        )

    # 5. seed-design baseline
    def baseline(self, payloads: Sequence["Payload"], repeat: int) -> None:
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
        from chinook_pipeline.tools.seed import seed_database
        from shared.kafka import ensure_topic

        options, stack = self.options, self.stack
        db = stack.work / f"freshness-{repeat}.db"
        seed_database(db, FRESHNESS_CUSTOMERS)
        topic, group = stack.name("fresh", repeat), stack.name("fresh-sink", repeat)
        ensure_topic(
            stack.kafka_settings(), topic, options.partitions
        )  # the consumer subscribes first
        services = [
            stack.spawn(
                f"fresh-producer-{repeat}",
                "producer",
                "--db",
                str(db),
                *self.kafka_args(topic),
                "--partitions",
                str(options.partitions),
            ),
            stack.spawn(
                f"fresh-consumer-{repeat}",
                *self.consumer_args(topic, group, "--flush-age", str(options.flush_age)),
                metrics=True,
            ),
        ]
        try:
            wait_for_commits(services[1].metrics_url, FRESHNESS_CUSTOMERS, services)
            first = last_change(db) + 1  # the snapshot is in S3: measure the changes from here on
            watcher = ObjectWatcher(stack.s3_client(), stack.bucket, group, first)
            writer = stack.spawn(
                f"fresh-writer-{repeat}",
                "write",
                "--db",
                str(db),
                "--rate",
                str(options.freshness_rate),
                "--duration",
                str(options.freshness_seconds),
                "--seed",
                str(repeat),
            )
            while writer.running():
                watcher.poll()
                time.sleep(POLL_SECONDS)
            writer.wait()
            written = last_change(db) + 1 - first
            deadline = time.monotonic() + options.flush_age + DRAIN_TIMEOUT
            while len(watcher.latencies) < written and time.monotonic() < deadline:
                watcher.poll()
                time.sleep(POLL_SECONDS)
        finally:
            for child in services:
                child.stop()
        latencies = list(watcher.latencies.values())
        if len(latencies) < written:
            raise PipelineError(
                f"freshness: only {len(latencies)} of {written} changes reached S3 within "
                f"{DRAIN_TIMEOUT:.0f}s after the writes: see {services[1].log}"
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
        self.delete_topics(topic)

    # 8. memory
    def memory(self, pristine: Path, repeat: int) -> None:
        topic, group = self.stack.name("backlog", repeat), self.stack.name("backlog-sink", repeat)
        db = self.copy(pristine, f"backlog-{repeat}")
        producer = self.run_producer(db, topic, f"backlog-producer-{repeat}").wait()
        consumer = self.stack.spawn(
            f"backlog-consumer-{repeat}", *self.consumer_args(topic, group, "--exit-when-idle")
        ).wait()
        self.record(
            "producer_rss",
            producer.peak_rss / MB,
            changes=self.options.backlog,
            wall_seconds=producer.elapsed,
        )
        self.record(
            "consumer_rss",
            consumer.peak_rss / MB,
            records=self.options.backlog,
            wall_seconds=consumer.elapsed,
        )
        db.unlink()
        self.delete_topics(topic)


# --- librdkafka and S3 at full speed ------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    key: bytes
    value: bytes
    timestamp_ms: int


def messages(db: Path) -> list[Payload]:
    """The snapshot messages the producer would publish for `db`, encoded by its own encoder."""
    from producer.encoder import ChangeEncoder

    encoder = ChangeEncoder()
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT * FROM Customer ORDER BY CustomerId").fetchall()
    return [
        Payload(
            str(row[0]).encode(), encoder.encode((seq, "snapshot", row[0], now_ms, *row)), now_ms
        )
        for seq, row in enumerate(rows, start=1)
    ]


def produce_all(settings: Any, topic: str, payloads: Sequence[Payload]) -> float:
    """Seconds to produce every payload and have it acknowledged, with the producer service's
    own librdkafka configuration (`producer.publisher.producer_config`) and header."""
    from confluent_kafka import Producer

    from producer.publisher import producer_config
    from producer.recovery import SOURCE_HEADER

    failures: list[str] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(error.str())

    producer = Producer(producer_config(settings))
    producer.produce(topic, payloads[0].value, payloads[0].key)  # connected, producer id known
    producer.flush(30)
    headers = [(SOURCE_HEADER, b"bench")]
    started = time.perf_counter()
    for index, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(
                    topic,
                    payload.value,
                    payload.key,
                    timestamp=payload.timestamp_ms,
                    headers=headers,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.01)
        if index % 1000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise PipelineError(
            f"raw produce: {left} messages unacknowledged, {len(failures)} failed "
            f"({failures[:1]}): check the broker"
        )
    return elapsed


def consume_all(
    client_config: Mapping[str, Any], topic: str, partitions: int
) -> tuple[float, dict[int, int]]:
    """Read every partition to its end by assignment, with no processing.

    Returns the seconds from the assignment to the last message received (connection set-up
    and first fetch included, the final empty fetch that reports the end not), and each
    partition's end.
    The end is where `_PARTITION_EOF` is reported (the fetch high watermark), never ListOffsets,
    which Tansu answers wrongly.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            **client_config,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    ends: dict[int, int] = {}
    count = 0
    last = 0.0
    try:
        first = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + SERVICE_TIMEOUT
        while len(ends) < partitions:
            if time.monotonic() > deadline:
                raise PipelineError(
                    f"raw consume: {topic} not read to its end in {SERVICE_TIMEOUT:.0f}s"
                )
            batch = consumer.consume(1000, 0.05)
            now = time.perf_counter()
            for message in batch:
                error = message.error()
                if error is None:
                    last, count = now, count + 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    ends[message.partition()] = message.offset()
                else:
                    raise PipelineError(f"raw consume of {topic}: {error.str()}")
    finally:
        consumer.close()
    if count != sum(ends.values()):
        raise PipelineError(
            f"raw consume of {topic}: read {count} messages but the ends add up to {sum(ends.values())}"
        )
    return max(last - first, 1e-6), ends


def committed_offsets(
    client_config: Mapping[str, Any], topic: str, group: str, partitions: int
) -> dict[int, int]:
    """The group's committed offset of each partition (0 where nothing is committed)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**client_config, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=30
        )
    finally:
        consumer.close()
    return {tp.partition: max(tp.offset, 0) for tp in committed}


def run_to_exit(children: Sequence[Child], metric: str) -> tuple[float, float]:
    """Wait until every child has exited 0; (active, wall) seconds until the last exit, counted
    from the first time `metric` was above 0 on any child's /metrics (active: the work itself,
    without interpreter start-up and group join) and from the first start (wall)."""
    from chinook_pipeline.local.scrape import scrape

    first = min(child.started for child in children)
    active_from = None
    while any([child.running() for child in children]):  # a list: reap every child that exited
        if active_from is None and any(
            scrape(child.metrics_url, timeout=0.5).get(metric, 0) > 0 for child in children
        ):
            active_from = time.monotonic()
        if time.monotonic() - first > SERVICE_TIMEOUT:
            break
        time.sleep(0.02 if active_from is None else 0.01)
    for child in children:
        child.wait()
    last = max(child.started + child.elapsed for child in children)
    return last - (active_from or first), last - first


def wait_for_commits(metrics_url: str, records: int, children: Sequence[Child]) -> None:
    """Wait until the consumer has committed `records` offsets (the snapshot is in S3)."""
    from chinook_pipeline.local.scrape import scrape

    deadline = time.monotonic() + DRAIN_TIMEOUT
    while scrape(metrics_url).get("chinook_consumer_offsets_committed_total", 0) < records:
        for child in children:
            if not child.running():
                raise PipelineError(
                    f"{child.name} exited with code {child.process.returncode}: see {child.log}"
                )
        if time.monotonic() > deadline:
            raise PipelineError(
                f"the snapshot of {records} customers did not reach S3 in {DRAIN_TIMEOUT:.0f}s"
            )
        time.sleep(POLL_SECONDS)


def last_change(db: Path) -> int:
    """The sequence of the last change ever captured in `db` (AUTOINCREMENT keeps it even after
    the producer deleted acknowledged changes); sequences are gap-free."""
    from producer.change_log import CHANGE_TABLE

    with sqlite3.connect(db, timeout=30) as connection:
        row = connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (CHANGE_TABLE,)
        ).fetchone()
    return int(row[0]) if row else 0


class ObjectWatcher:
    """Lists a prefix; for each change from sequence `first` on, the seconds from its capture to
    the listing that first showed its object (the latency a reader polling S3 would see)."""

    def __init__(self, client: Any, bucket: str, prefix: str, first: int) -> None:
        self.client, self.bucket, self.prefix, self.first = client, bucket, prefix, first
        self.seen: set[str] = set()
        self.latencies: dict[int, float] = {}  # change sequence -> seconds

    def poll(self) -> None:
        from shared.changes import CustomerChange
        from shared.framing import unframe

        listed_at = time.time()
        paginator = self.client.get_paginator("list_objects_v2")
        fresh = [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/")
            for item in page.get("Contents", ())
            if item["Key"] not in self.seen and "/_chinook/" not in item["Key"]
        ]
        for key in fresh:
            self.seen.add(key)
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for record in unframe(body):
                change = CustomerChange.FromString(record)
                if change.sequence >= self.first and change.sequence not in self.latencies:
                    self.latencies[change.sequence] = (
                        listed_at - change.captured_at.ToMilliseconds() / 1000
                    )
