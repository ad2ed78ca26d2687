"""Create or extend a database with the real Chinook `Customer` schema and synthetic customers.

The schema is the real Chinook one, statement for statement, so the pipeline runs unchanged
against the real sample database. The customers are synthetic but shaped like the real ones:
names from many countries (accents and CJK scripts included), e-mail addresses derived from the
ASCII-folded name, postal codes and phone numbers in each country's format, and the real
proportion of NULL Company, State and Fax values.
"""

import random
import sqlite3
import unicodedata
from pathlib import Path
from typing import Final

from chinook_pipeline.tools.chinook_schema import (
    CUSTOMER_DDL,
    EMPLOYEE_DDL,
    EMPLOYEES,
    INDEX_DDL,
    INSERT_CUSTOMER,
    SUPPORT_REPS,
)
from chinook_pipeline.tools.countries import COUNTRIES
from chinook_shared.errors import PipelineError

_COUNTRY_WEIGHTS: Final = [country.weight for country in COUNTRIES]
_FOLD: Final = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d", "'": ""}
)

DEFAULT_SEED: Final = 42  # the `seed` command's default too


def ascii_fold(text: str) -> str:
    """`text` without accents: "Bjørn Łukasiewicz" -> "Bjorn Lukasiewicz"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def _pattern(rng: random.Random, pattern: str) -> str:
    return "".join(
        str(rng.randrange(10))
        if char == "#"
        else chr(65 + rng.randrange(26))
        if char == "L"
        else char
        for char in pattern
    )


def _name(rng: random.Random, choices: tuple[str, ...]) -> tuple[str, str]:
    """(as stored, as used in the e-mail): CJK names are stored in native script half the time."""
    native, _, romanised = rng.choice(choices).partition("|")
    if romanised:
        return (native, romanised) if rng.random() < 0.5 else (romanised, romanised)
    return native, ascii_fold(native)


def _email(rng: random.Random, first: str, last: str, domain: str) -> str:
    first, last = first.lower().replace(" ", ""), last.lower().replace(" ", "")
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first}{last[:1]}",
            f"{first[:1]}{last}",
            f"{first}_{last}",
            f"{first}",
        )
    )
    if rng.random() < 0.3:
        local += str(rng.randrange(1, 100))
    return f"{local[:40]}@{domain}"


def synthetic_customer(rng: random.Random, customer_id: int) -> tuple[object, ...]:
    """One realistic `Customer` row (columns in table order), drawn from `rng` alone."""
    country = rng.choices(COUNTRIES, _COUNTRY_WEIGHTS)[0]
    first, first_ascii = _name(rng, country.first_names)
    last, last_ascii = _name(rng, country.last_names)
    city, state, postal, phone_pattern = rng.choice(country.cities)
    company = rng.choice(country.companies) if rng.random() < 0.2 else None
    fax = _pattern(rng, phone_pattern) if rng.random() < (0.7 if company else 0.05) else None
    address = _pattern(rng, country.address).format(
        n=rng.randrange(1, 2000), s=rng.choice(country.streets)
    )
    return (
        customer_id,
        first,
        last[:20],
        company,
        address[:70],
        city,
        state,
        country.name,
        _pattern(rng, postal),
        _pattern(rng, phone_pattern),
        fax,
        _email(rng, first_ascii, last_ascii, rng.choice(country.domains)),
        rng.choice(SUPPORT_REPS),
    )


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection to an SQLite file in an existing directory, or PipelineError."""
    if not db_path.parent.is_dir():
        raise PipelineError(
            f"directory {db_path.parent} does not exist: create it or choose another --db"
        )
    if db_path.is_dir():
        raise PipelineError(f"{db_path} is a directory: give the path of an SQLite database file")
    connection = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise PipelineError(
            f"{db_path} is not an SQLite database ({error}): choose another --db"
        ) from None
    return connection


def _create_schema(connection: sqlite3.Connection) -> None:
    """The real tables and indexes, where missing, and the support reps customers refer to."""
    existing = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    wanted = {"Employee": EMPLOYEE_DDL, "Customer": CUSTOMER_DDL, **INDEX_DDL}
    for name, ddl in wanted.items():
        if name not in existing:
            connection.execute(ddl)
    connection.executemany(
        "INSERT OR IGNORE INTO Employee VALUES (" + ", ".join("?" * 15) + ")", EMPLOYEES
    )


def seed_database(db_path: Path, customers: int, seed: int = DEFAULT_SEED) -> int:
    """Add `customers` synthetic customers after the highest existing id; returns the number added.

    Everything happens in one transaction: a reader sees all new customers or none. The rows
    depend only on `seed` and the highest existing id, so a rerun on the same starting database
    adds the same customers.
    """
    connection = connect(db_path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        _create_schema(connection)
        (start,) = connection.execute(
            "SELECT coalesce(max(CustomerId), 0) FROM Customer"
        ).fetchone()
        rng = random.Random(f"chinook-seed/{seed}/{start}")
        connection.executemany(
            INSERT_CUSTOMER, (synthetic_customer(rng, start + i) for i in range(1, customers + 1))
        )
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise PipelineError(f"cannot seed {db_path}: {error}") from None
    finally:
        connection.close()
    return customers
