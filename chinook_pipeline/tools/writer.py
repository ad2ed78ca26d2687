"""A demo workload: a steady stream of inserts, updates and deletes on the `Customer` table.

Every change is its own short transaction, as an application's would be, so a change-capture
process sees them one by one. Other writers (the producer's bookkeeping, a second workload) are
waited for with SQLite's busy timeout, and a change that still meets a locked database is retried.
"""

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from chinook_pipeline.tools.chinook_schema import INSERT_CUSTOMER
from chinook_pipeline.tools.seed import connect, synthetic_customer
from chinook_shared.changes import COLUMN_NAMES
from chinook_shared.errors import PipelineError

T = TypeVar("T")

OPERATIONS: Final = ("insert", "update", "delete")
WEIGHTS: Final = (40, 45, 15)
# Columns an update may change (by index in the row); nullable ones may become NULL.
UPDATABLE: Final = tuple(range(1, len(COLUMN_NAMES)))
NULLABLE: Final = frozenset(
    {"Company", "Address", "City", "State", "Country", "PostalCode", "Phone", "Fax", "SupportRepId"}
)
LOCK_RETRIES: Final = 50


class ChangeWriter:
    """Applies random changes to one database; deterministic for a given seed and starting state."""

    def __init__(self, db_path: Path, seed: int) -> None:
        if not db_path.is_file():
            raise PipelineError(
                f"database {db_path} does not exist: create it with `chinook-pipeline seed --db {db_path}`"
            )
        self.db_path = db_path
        self.rng = random.Random(f"chinook-writer/{seed}")
        self.connection = connect(db_path)
        tables = {
            name
            for (name,) in self.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        if "Customer" not in tables:
            self.connection.close()
            raise PipelineError(
                f"{db_path} has no Customer table: create it with `chinook-pipeline seed --db {db_path}`"
            )

    def close(self) -> None:
        self.connection.close()

    def step(self) -> str:
        """Apply one random change in its own transaction; returns "insert", "update" or "delete".

        On an empty table, an update or delete becomes an insert.
        """
        op = self.rng.choices(OPERATIONS, WEIGHTS)[0]
        return self._with_retry(lambda: self._apply(op))

    def run(
        self, rate: float, stop: threading.Event, duration: float | None = None
    ) -> dict[str, int]:
        """Apply `rate` changes per second until `stop` is set or `duration` seconds have passed.

        The schedule is fixed in advance (change i is due at start + i / rate), so a slow change
        is caught up on instead of lowering the rate.
        """
        counts = dict.fromkeys(OPERATIONS, 0)
        start = time.monotonic()
        end = start + duration if duration is not None else None
        done = 0
        try:
            while not stop.is_set():
                due = start + done / rate
                if end is not None and due >= end:
                    break
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
                counts[self.step()] += 1
                done += 1
        finally:
            self.close()
        return counts

    def _apply(self, op: str) -> str:
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            target = self._random_customer() if op != "insert" else None
            if target is None:
                op = "insert"
                (last,) = connection.execute(
                    "SELECT coalesce(max(CustomerId), 0) FROM Customer"
                ).fetchone()
                connection.execute(INSERT_CUSTOMER, synthetic_customer(self.rng, last + 1))
            elif op == "update":
                columns, values = self._changed_columns()
                assignments = ", ".join(f"[{column}] = ?" for column in columns)
                connection.execute(
                    f"UPDATE Customer SET {assignments} WHERE CustomerId = ?", (*values, target)
                )
            else:
                connection.execute("DELETE FROM Customer WHERE CustomerId = ?", (target,))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return op

    def _random_customer(self) -> int | None:
        """A random existing id (ids are dense enough that the next id at or after a random point will do)."""
        low, high = self.connection.execute(
            "SELECT min(CustomerId), max(CustomerId) FROM Customer"
        ).fetchone()
        if low is None:
            return None
        (found,) = self.connection.execute(
            "SELECT min(CustomerId) FROM Customer WHERE CustomerId >= ?",
            (self.rng.randint(low, high),),
        ).fetchone()
        return int(found)

    def _changed_columns(self) -> tuple[list[str], list[object]]:
        """1-3 columns with fresh realistic values; a nullable column becomes NULL one time in five."""
        fresh = synthetic_customer(self.rng, 0)
        picked = sorted(self.rng.sample(UPDATABLE, self.rng.randint(1, 3)))
        columns = [COLUMN_NAMES[index] for index in picked]
        values = [
            None if COLUMN_NAMES[index] in NULLABLE and self.rng.random() < 0.2 else fresh[index]
            for index in picked
        ]
        return columns, values

    def _with_retry(self, change: Callable[[], T]) -> T:
        for attempt in range(LOCK_RETRIES):
            try:
                return change()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise PipelineError(f"cannot change {self.db_path}: {error}") from None
                time.sleep(min(0.05 * (attempt + 1), 1.0))
        raise PipelineError(f"{self.db_path} stayed locked: stop the other writer and retry")
