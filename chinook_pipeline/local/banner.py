"""What `dev` tells people and the tools: the banner, with commands to paste while it runs, and
the local profile those commands find the stack through (chinook_pipeline/local/profile.py)."""

import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.parquet_sink import GROUP as PARQUET_GROUP
from chinook_pipeline.local.parquet_sink import PREFIX as PARQUET_PREFIX
from chinook_pipeline.local.processes import Child
from chinook_pipeline.local.profile import PROFILE
from chinook_pipeline.local.settings import DevSettings
from chinook_pipeline.local.table_sink import CHANGES, STATE, TableSink

COUNTRIES: Final = (
    "SELECT country, count(*) AS customers FROM customers GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 5"
)
OPERATIONS: Final = "SELECT op, count(*) AS changes FROM customer_changes GROUP BY ALL ORDER BY ALL"
CUSTOMERS: Final = "SELECT count(*) AS customers FROM customers"


def executable() -> str:
    """This `chinook-pipeline` as a person types it here: `.venv/bin/chinook-pipeline` after
    `make dev` (the venv is not on the PATH), plain `chinook-pipeline` when the PATH finds it."""
    script = Path(sys.executable).parent / "chinook-pipeline"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m chinook_pipeline"
    found = shutil.which("chinook-pipeline")
    if found and Path(found).resolve() == script.resolve():
        return "chinook-pipeline"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def profile_tables(
    settings: DevSettings, s3: embedded.S3Server, tables: TableSink
) -> dict[str, dict[str, str]]:
    """Each command's options in the local profile: where this run's stack and data are."""
    s3_options = {"s3_endpoint_url": s3.endpoint_url, "s3_region": s3.env["AWS_DEFAULT_REGION"]}
    db = str(settings.db.resolve())
    return {
        "query": {"bucket": settings.bucket_name, "catalog_uri": tables.catalog_uri, **s3_options},
        "verify": {"db": db, "bucket": settings.bucket_name, **s3_options},
        "inspect": s3_options,
        "iceberg verify": {
            "db": db,
            "table": STATE,
            "change_table": CHANGES,
            "catalog_uri": tables.catalog_uri,
            **s3_options,
        },
    }


def banner(
    settings: DevSettings,
    broker: kafka.Cluster,
    s3: embedded.S3Server,
    services: Mapping[str, Child],
    tables: TableSink,
    log_dir: Path,
) -> str:
    """Where everything is, and the commands to paste in another terminal while dev runs."""
    run = executable()
    topic, bucket = settings.topic, settings.bucket_name
    metrics = ", ".join(f"{name} {child.metrics_url}" for name, child in services.items())
    return "\n".join(
        [
            "chinook-pipeline dev: the whole pipeline on real parts (Ctrl-C to stop)",
            f"  database   {settings.db}",
            f"  broker     Apache Kafka (KRaft) at {broker.bootstrap_servers}, topic {topic}",
            f"  S3         moto at {s3.endpoint_url}, in memory: every run starts empty",
            f"  objects    s3://{bucket}/{topic}/dt=.../hour=.../*.binpb.gz",
            f"  parquet    s3://{bucket}/{PARQUET_PREFIX}/{topic}/dt=.../hour=.../*.parquet "
            f"(group {PARQUET_GROUP})",
            f"  tables     {CHANGES} and {STATE}: files under {tables.warehouse}, "
            f"catalog {tables.catalog} (group {tables.group})",
            f"  metrics    {metrics}",
            f"  logs       {log_dir}/",
            f"  profile    {PROFILE}: how the commands below find this stack (removed at stop)",
            "Paste in another terminal, in this folder, while dev runs (verify counts changes "
            "still on their way as mismatches; dev verifies every sink when it stops):",
            f"  {run} query --prefix {PARQUET_PREFIX} {shlex.quote(COUNTRIES)}",
            f"  {run} query --format protobuf {shlex.quote(OPERATIONS)}",
            f"  {run} query --table {CHANGES} --state-table {STATE} {shlex.quote(CUSTOMERS)}",
            f"  {run} verify",
            f"  {run} verify --format parquet --prefix {PARQUET_PREFIX}",
            f"  {run} iceberg verify",
        ]
    )
