"""The bench's settings: how much it measures, how often, and on which broker and S3."""

from dataclasses import dataclass
from pathlib import Path

from chinook_shared.bucket_name import BUCKET
from chinook_shared.settings import Settings, setting


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
class BenchSettings(Settings):
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
        "10000,100000,1000000,10000000",
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
