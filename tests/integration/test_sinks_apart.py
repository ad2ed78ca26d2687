"""`query` and `verify` read only what their own sink wrote, whatever else the bucket holds.

One bucket gets the three sinks of `make dev` and compose (Protobuf objects at its root, Parquet
objects under `parquet/`, an Iceberg warehouse under `iceberg/`: the worst case, as `make dev`
once did) plus stray keys named almost like the consumer's objects; every format's answers must
still be exact: each event once, each customer as the database has it.
"""

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from chinook_pipeline.local import kafka
from chinook_pipeline.tools.writer import ChangeWriter
from tests.conftest import Cli, customer_rows
from tests.table_cli import CHANGES, STATE, catalog_uri, table_options, verify_tables_ok

pytestmark = pytest.mark.slow
PARQUET = "parquet"
COUNTS = "SELECT count(*) AS events, count(DISTINCT sequence) AS sequences FROM customer_changes"
STATE_SQL = "SELECT customer_id, first_name, last_name, email FROM customers ORDER BY 1"


def land(cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path) -> Path:
    """A database, its snapshot and a few hundred changes, written by all three sinks."""
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "150")
    producer = ["producer", "--db", str(db), "--bootstrap-servers", broker.bootstrap_servers]
    cli.run(*producer, "--topic", topic, "--exit-when-idle")
    ChangeWriter(db, seed=3).run(rate=2000, stop=threading.Event(), duration=0.3)
    cli.run(*producer, "--topic", topic, "--exit-when-idle")
    consumer = ["consumer", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic]
    for group, options in (
        ("objects", ("--bucket", bucket)),
        ("parquet", ("--bucket", bucket, "--format", "parquet", "--prefix", PARQUET)),
        ("tables", table_options(catalog_uri(tmp_path), bucket)),
    ):
        cli.run(*consumer, "--group-id", f"{topic}-{group}", *options, "--exit-when-idle")
    return db


def add_strays(s3: Any, bucket: str, topic: str) -> None:
    """Keys that are not the consumer's objects, some holding real change events."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{topic}/")["Contents"]
    protobuf = listing[0]["Key"]
    parquet = s3.list_objects_v2(Bucket=bucket, Prefix=f"{PARQUET}/{topic}/")["Contents"][0]["Key"]
    folder = protobuf.rsplit("/", 1)[0]
    for source, key in (
        (protobuf, f"backup/{protobuf}"),  # another prefix
        (protobuf, f"{folder}/copy-of-an-object.binpb.gz"),  # not the consumer's name
        (parquet, f"{folder}/export.parquet"),
        (parquet, f"{PARQUET}/{topic}/latest.parquet"),
    ):
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"not an object of the pipeline")
    s3.put_object(Bucket=bucket, Key=f"{PARQUET}/README", Body=b"PAR1")


def query(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli.run("query", *args, "--output", "json")
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_each_tool_reads_only_its_own_sink(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, s3_client: Any, tmp_path: Path
) -> None:
    db = land(cli, broker, topic, bucket, tmp_path)
    add_strays(s3_client, bucket, topic)
    keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(key.startswith("iceberg/") and key.endswith(".parquet") for key in keys)
    assert any(key.startswith("iceberg/") and key.endswith(".metadata.json") for key in keys)
    expected_state = [
        {"customer_id": row[0], "first_name": row[1], "last_name": row[2], "email": row[11]}
        for row in customer_rows(db)
    ]

    answers = {}
    for name, where in (
        ("protobuf", ("--bucket", bucket, "--format", "protobuf")),
        ("parquet", ("--bucket", bucket, "--format", "parquet", "--prefix", PARQUET)),
        (
            "tables",
            ("--table", CHANGES, "--state-table", STATE, "--catalog-uri", catalog_uri(tmp_path)),
        ),
    ):
        (counts,) = query(cli, *where, COUNTS)
        assert counts["events"] == counts["sequences"], (name, counts)
        assert query(cli, *where, STATE_SQL) == expected_state, name
        answers[name] = counts["events"]
    assert len(set(answers.values())) == 1, answers

    for form, prefix in (("protobuf", ""), ("parquet", PARQUET)):
        result = cli.run(
            "verify", "--db", str(db), "--bucket", bucket, "--format", form, "--prefix", prefix
        )
        assert result.stdout.startswith("OK: "), result.stdout
        assert f", {answers['protobuf']} events, " in result.stdout, result.stdout
        assert " 0 duplicate events" in result.stdout, result.stdout
    verify_tables_ok(cli, db, catalog_uri(tmp_path))

    elsewhere = cli.run("query", "--bucket", bucket, "SELECT 1", check=False)
    assert elsewhere.returncode == 1
    assert "the consumer's parquet objects are under --prefix parquet" in elsewhere.stderr
