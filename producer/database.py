"""Opening the SQLite database and turning its errors into one-line, actionable messages.

Every statement the producer runs goes through `Database.run`, which retries a few times when
the database stays locked past the busy timeout before giving up with a PipelineError.
"""

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

from shared.errors import PipelineError

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_ATTEMPTS: Final = 3


class Database:
    """One connection to the database at `path` (autocommit; transactions are explicit)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        if not path.exists():
            raise PipelineError(
                f"database {path} not found: create it with `chinook-pipeline seed --db {path}`"
            )
        if not path.is_file():
            raise PipelineError(f"database {path} is not a file: point --db at a SQLite database")
        try:
            self.connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=rw",
                uri=True,
                timeout=busy_timeout,
                isolation_level=None,
            )
        except sqlite3.Error as error:
            raise self.error(error) from None

    def close(self) -> None:
        self.connection.close()

    def run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """`action(connection)`, retried while the database is locked; sqlite errors -> PipelineError."""
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                return action(self.connection)
            except sqlite3.OperationalError as error:
                if not _is_locked(error) or attempt == LOCK_ATTEMPTS:
                    raise self.error(error) from None
                log.warning(
                    "database %s locked for %.1fs (attempt %d of %d), retrying",
                    self.path, self.busy_timeout, attempt, LOCK_ATTEMPTS,
                )
            except sqlite3.Error as error:
                raise self.error(error) from None
        raise AssertionError("unreachable")

    def error(self, error: sqlite3.Error) -> PipelineError:
        """The PipelineError a user sees for a sqlite error on this database."""
        text = str(error)
        if _is_locked(error):
            return PipelineError(
                f"database {self.path} stayed locked for more than {self.busy_timeout:g}s "
                f"({LOCK_ATTEMPTS} attempts): end the long write transaction holding it "
                "or raise the busy timeout"
            )
        if "not a database" in text or "malformed" in text:
            return PipelineError(
                f"{self.path} is not a SQLite database ({text}): point --db at a Chinook "
                f"database or create one with `chinook-pipeline seed --db {self.path}`"
            )
        if "readonly" in text or "unable to open" in text:
            return PipelineError(
                f"cannot write to database {self.path} ({text}): the producer needs write "
                "access to the file and its directory (it keeps its change table there)"
            )
        return PipelineError(f"database {self.path}: {text}")


@contextmanager
def immediate(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken up front (`BEGIN IMMEDIATE`), committed or rolled back."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _is_locked(error: sqlite3.Error) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text
