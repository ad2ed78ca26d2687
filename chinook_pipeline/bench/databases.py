"""The bench's SQLite databases: one seeded per kind of figure, and a fresh copy per run (the
producer installs its capture on the database it is given)."""

import shutil
from pathlib import Path

from chinook_pipeline.bench.session import Session
from chinook_pipeline.bench.stack import Stack


def seed(bench: Session, name: str, customers: int) -> Path:
    """A database of `customers` customers in the work directory, kept pristine."""
    from chinook_pipeline.tools.seed import seed_database

    path = bench.stack.work / f"{name}.pristine.db"
    bench.say(f"seeding {customers:,} customers into {path}")
    seed_database(path, customers)
    return path


def copy(stack: Stack, pristine: Path, name: str) -> Path:
    """A fresh copy of `pristine` for one run."""
    path = stack.work / f"{name}.db"
    shutil.copyfile(pristine, path)
    return path
