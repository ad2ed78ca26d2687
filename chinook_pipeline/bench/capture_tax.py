"""The capture tax: how much slower the application's own writes get once capture is installed.

Measured as issue 12 did: a 20,000-customer database in WAL mode with `synchronous=NORMAL`,
20,000 random `UPDATE Customer SET City = ? WHERE CustomerId = ?`, as single-row commits and in
transactions of 100, on two copies of one database, one without capture and one with it
(triggers and change table, as the producer installs them), in the same run: the same updates
go to both in alternating slices, so a machine that is busy with something else for a while
slows both alike (this one is shared).
The tax is the ratio of the two rates (1.0: capture costs nothing).
"""

import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

CUSTOMERS: Final = 20_000
UPDATES: Final = 20_000
BATCHED: Final = 100  # updates per transaction in the batched figures
SLICE: Final = 1000  # updates applied to one database before switching to the other

# figure name -> (label, unit), in the order the report lists them
FIGURES: Final[dict[str, tuple[str, str]]] = {
    "writes_single": ("app writes, single-row commits, no capture", "updates/s"),
    "writes_single_captured": ("app writes, single-row commits, capture installed", "updates/s"),
    "capture_tax_single": ("capture tax, single-row commits (no capture / capture)", "x"),
    "writes_batched": (f"app writes, {BATCHED} per transaction, no capture", "updates/s"),
    "writes_batched_captured": (
        f"app writes, {BATCHED} per transaction, capture installed",
        "updates/s",
    ),
    "capture_tax_batched": (f"capture tax, {BATCHED} per transaction (no capture / capture)", "x"),
}
TARGETS: Final = {"capture_tax_single": 1.4, "capture_tax_batched": 1.15}  # at most


def measure(record: Callable[..., Any], pristine: Path, work: Path, repeat: int) -> None:
    """One run of every capture-tax figure, handed to `record(figure, value, **detail)`."""
    plain = _copy(pristine, work / f"tax-plain-{repeat}.db")
    captured = _copy(pristine, work / f"tax-captured-{repeat}.db")
    _install_capture(captured)
    try:
        for per_transaction, suffix in ((1, "single"), (BATCHED, "batched")):
            rates = paired_rates((plain, captured), UPDATES, per_transaction, seed=repeat)
            detail = {"updates": UPDATES, "per_transaction": per_transaction}
            record(f"writes_{suffix}", rates[0], **detail)
            record(f"writes_{suffix}_captured", rates[1], **detail)
            record(f"capture_tax_{suffix}", rates[0] / rates[1], **detail)
    finally:
        for db in (plain, captured):
            for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                path.unlink(missing_ok=True)


def paired_rates(
    databases: tuple[Path, Path], updates: int, per_transaction: int, seed: int
) -> tuple[float, float]:
    """Updates per second on each database: the same `updates` random City changes by id,
    `per_transaction` per commit, applied to both in alternating slices of SLICE updates, so
    that whatever else the machine does in the meantime weighs on both alike."""
    rng = random.Random(seed)
    connections = [sqlite3.connect(db, isolation_level=None) for db in databases]
    try:
        (customers,) = connections[0].execute("SELECT max(CustomerId) FROM Customer").fetchone()
        work = [(f"City {rng.randrange(10**9)}", rng.randint(1, customers)) for _ in range(updates)]
        for connection in connections:
            connection.execute("PRAGMA synchronous=NORMAL")
        seconds = [0.0, 0.0]
        for number, start in enumerate(range(0, updates, SLICE)):
            for index in (0, 1) if number % 2 else (1, 0):
                seconds[index] += _apply(
                    connections[index], work[start : start + SLICE], per_transaction
                )
        return updates / seconds[0], updates / seconds[1]
    finally:
        for connection in connections:
            connection.close()


def _apply(
    connection: sqlite3.Connection, work: list[tuple[str, int]], per_transaction: int
) -> float:
    """Seconds to apply `work`, `per_transaction` updates per commit."""
    started = time.perf_counter()
    for start in range(0, len(work), per_transaction):
        connection.execute("BEGIN")
        connection.executemany(
            "UPDATE Customer SET City = ? WHERE CustomerId = ?",
            work[start : start + per_transaction],
        )
        connection.execute("COMMIT")
    return time.perf_counter() - started


def _copy(pristine: Path, path: Path) -> Path:
    shutil.copyfile(pristine, path)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    return path


def _install_capture(db: Path) -> None:
    from chinook_producer import capture

    connection = sqlite3.connect(db, isolation_level=None)
    try:
        capture.install(connection)
    finally:
        connection.close()
