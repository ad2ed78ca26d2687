"""`write`: random inserts, updates and deletes, each in its own transaction."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from chinook_pipeline.tools.seed import seed_database
from chinook_pipeline.tools.writer import ChangeWriter
from chinook_shared.errors import PipelineError
from tests.conftest import customer_rows


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "chinook.db"
    seed_database(path, 200)
    return path


@pytest.fixture()
def writer(db: Path) -> Iterator[ChangeWriter]:
    change_writer = ChangeWriter(db, seed=1)
    yield change_writer
    change_writer.close()


def test_steps_apply_their_operation(db: Path, writer: ChangeWriter) -> None:
    counts = {"insert": 0, "update": 0, "delete": 0}
    for _ in range(300):
        before = {row[0]: row for row in customer_rows(db)}
        op = writer.step()
        after = {row[0]: row for row in customer_rows(db)}
        counts[op] += 1
        if op == "insert":
            (new,) = after.keys() - before.keys()
            assert new == max(before) + 1 and len(after) == len(before) + 1
        elif op == "delete":
            assert len(before.keys() - after.keys()) == 1 and after.keys() <= before.keys()
        else:
            changed = [key for key in after if after[key] != before[key]]
            assert after.keys() == before.keys() and len(changed) <= 1
            if changed:
                columns = sum(
                    a != b for a, b in zip(after[changed[0]], before[changed[0]], strict=True)
                )
                assert 1 <= columns <= 3
    assert all(count > 30 for count in counts.values()), counts
    assert len(customer_rows(db)) == 200 + counts["insert"] - counts["delete"]


def test_updates_sometimes_set_null(db: Path, writer: ChangeWriter) -> None:
    query = (
        "SELECT count(*) FROM Customer WHERE Phone IS NULL OR City IS NULL OR SupportRepId IS NULL"
    )
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute(query).fetchone() == (0,)  # the seed fills these columns
        for _ in range(300):
            writer.step()
        assert connection.execute(query).fetchone()[0] > 0


def test_run_counts_add_up(db: Path, writer: ChangeWriter) -> None:
    before = len(customer_rows(db))
    stop = threading.Event()
    counts = writer.run(rate=2000, stop=stop, duration=0.2)
    assert set(counts) == {"insert", "update", "delete"}
    assert sum(counts.values()) > 0
    assert len(customer_rows(db)) == before + counts["insert"] - counts["delete"]


def test_run_stops_when_asked(db: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert ChangeWriter(db, seed=2).run(rate=10, stop=stop) == {
        "insert": 0,
        "update": 0,
        "delete": 0,
    }


def test_empty_table_gets_inserts(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    seed_database(path, 0)
    change_writer = ChangeWriter(path, seed=1)  # whose first draw is a delete
    assert change_writer.step() == "insert"
    change_writer.close()
    assert len(customer_rows(path)) == 1


def test_same_seed_same_changes(tmp_path: Path) -> None:
    results = []
    for name in ("a.db", "b.db"):
        path = tmp_path / name
        seed_database(path, 50)
        change_writer = ChangeWriter(path, seed=9)
        ops = [change_writer.step() for _ in range(50)]
        change_writer.close()
        results.append((ops, customer_rows(path)))
    assert results[0] == results[1]


def test_waits_for_another_writer(db: Path, writer: ChangeWriter) -> None:
    """A change that meets a write lock waits for it instead of failing."""
    with closing(sqlite3.connect(db, isolation_level=None, check_same_thread=False)) as other:
        other.execute("BEGIN IMMEDIATE")
        released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        released.start()
        writer.step()
        released.join()


def test_database_without_customer_table(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(PipelineError, match="no Customer table"):
        ChangeWriter(path, seed=1)


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        ChangeWriter(tmp_path / "absent.db", seed=1)
    assert not (tmp_path / "absent.db").exists()
