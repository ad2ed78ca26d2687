"""`seed`: the real schema, realistic synthetic customers, determinism and extension."""

import random
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from chinook_pipeline.tools.seed import ascii_fold, seed_database, synthetic_customer
from chinook_shared.errors import PipelineError
from tests.conftest import REAL_CHINOOK, customer_rows


def schema(db: Path, names: tuple[str, ...]) -> dict[str, str]:
    with closing(sqlite3.connect(db)) as connection:
        marks = ", ".join("?" * len(names))
        rows = connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", names
        )
        return dict(rows.fetchall())


def test_schema_is_the_real_chinook_schema(tmp_path: Path) -> None:
    if not REAL_CHINOOK.exists():
        pytest.skip(f"real Chinook database not present at {REAL_CHINOOK}")
    db = tmp_path / "new.db"
    seed_database(db, 10)
    names = ("Customer", "Employee", "IFK_CustomerSupportRepId", "IFK_EmployeeReportsTo")
    created = schema(db, names)
    assert set(created) == set(names)
    assert created == schema(REAL_CHINOOK, names)


def test_support_reps_are_the_real_employees(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    seed_database(db, 50)
    with closing(sqlite3.connect(db)) as connection:
        reps = connection.execute(
            "SELECT EmployeeId, FirstName, LastName FROM Employee WHERE Title = 'Sales Support Agent' ORDER BY 1"
        ).fetchall()
        used = {rep for (rep,) in connection.execute("SELECT DISTINCT SupportRepId FROM Customer")}
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert reps == [(3, "Jane", "Peacock"), (4, "Margaret", "Park"), (5, "Steve", "Johnson")]
    assert used <= {3, 4, 5}


def test_counts_and_realistic_values(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert seed_database(db, 2000) == 2000
    rows = customer_rows(db)
    assert [row[0] for row in rows] == list(range(1, 2001))
    nulls = {
        column: sum(row[index] is None for row in rows) / len(rows)
        for column, index in (("Company", 3), ("State", 6), ("Fax", 10))
    }
    assert 0.7 < nulls["Company"] < 0.9
    assert 0.35 < nulls["State"] < 0.65
    assert 0.7 < nulls["Fax"] < 0.9
    text = "".join(str(value) for row in rows for value in row[1:3])
    for letter in "éöøłçñüßã":
        assert letter in text, letter
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text), "no Japanese or Chinese names"
    for row in rows:
        assert row[11].isascii() and re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+", row[11]), row[
            11
        ]
        assert len(row[2]) <= 20 and len(row[8]) <= 10 and len(row[9]) <= 24 and len(row[11]) <= 60
        assert row[12] in {3, 4, 5}
    by_country = {row[7]: row for row in rows}
    assert re.fullmatch(r"\d{5}-\d{3}", by_country["Brazil"][8])
    assert re.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d", by_country["Canada"][8])
    assert re.fullmatch(r"\+1 \(\d{3}\) \d{3}-\d{4}", by_country["USA"][9])
    assert by_country["Germany"][6] is None and by_country["USA"][6] is not None


def test_email_is_derived_from_the_folded_name() -> None:
    assert ascii_fold("Bjørn Łukasiewicz Groß Gonçalves") == "Bjorn Lukasiewicz Gross Goncalves"
    rng = random.Random(3)
    for customer_id in range(200):
        row = synthetic_customer(rng, customer_id)
        local = str(row[11]).split("@")[0]
        first = str(row[1])
        if first.isascii():
            assert ascii_fold(first).lower()[0] == local[0], row


def test_same_seed_same_rows(tmp_path: Path) -> None:
    seed_database(tmp_path / "a.db", 300, seed=5)
    seed_database(tmp_path / "b.db", 300, seed=5)
    seed_database(tmp_path / "c.db", 300, seed=6)
    assert customer_rows(tmp_path / "a.db") == customer_rows(tmp_path / "b.db")
    assert customer_rows(tmp_path / "a.db") != customer_rows(tmp_path / "c.db")


def test_extension_appends_new_unique_customers(tmp_path: Path) -> None:
    db = tmp_path / "grow.db"
    seed_database(db, 100)
    first = customer_rows(db)
    assert seed_database(db, 50) == 50
    rows = customer_rows(db)
    assert rows[:100] == first
    assert [row[0] for row in rows] == list(range(1, 151))
    assert [row[1:] for row in rows[100:]] != [row[1:] for row in first[:50]]
    assert seed_database(db, 0) == 0
    assert len(customer_rows(db)) == 150


def test_extends_the_real_chinook_database(real_chinook: Path) -> None:
    before = customer_rows(real_chinook)
    seed_database(real_chinook, 25)
    rows = customer_rows(real_chinook)
    assert rows[: len(before)] == before
    assert [row[0] for row in rows[len(before) :]] == list(
        range(before[-1][0] + 1, before[-1][0] + 26)
    )
    with closing(sqlite3.connect(real_chinook)) as connection:
        assert connection.execute("SELECT count(*) FROM Employee").fetchone() == (8,)


def test_bad_paths_are_pipeline_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        seed_database(tmp_path / "nowhere" / "db.sqlite", 1)
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello, this is not a database\n" * 100)
    with pytest.raises(PipelineError, match="not an SQLite database"):
        seed_database(not_sqlite, 1)
    assert not_sqlite.read_text().startswith("hello")
