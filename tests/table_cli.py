"""Test helpers for the consumer's table destination as a user runs it: the options of a
consumer writing both tables to a SQLite catalog, and `chinook-pipeline iceberg verify`."""

import subprocess
from pathlib import Path

from tests.conftest import Cli

CHANGES = "chinook.customer_changes"
STATE = "chinook.customers"


def catalog_uri(directory: Path) -> str:
    return f"sqlite:///{directory}/iceberg.db"


def table_options(directory: Path, bucket: str) -> tuple[str, ...]:
    """Write both tables, cataloged in `directory`/iceberg.db, under s3://bucket/iceberg."""
    return (
        "--table",
        CHANGES,
        "--state-table",
        STATE,
        "--catalog-uri",
        catalog_uri(directory),
        "--warehouse",
        f"s3://{bucket}/iceberg",
    )


def verify_tables(cli: Cli, db: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    return cli.run(
        "iceberg",
        "verify",
        "--db",
        str(db),
        "--table",
        STATE,
        "--catalog-uri",
        catalog_uri(directory),
        check=False,
    )


def verify_tables_ok(cli: Cli, db: Path, directory: Path) -> str:
    result = verify_tables(cli, db, directory)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
