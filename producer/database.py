"""Opening the SQLite database and turning its errors into one-line, actionable messages.

Every statement the producer runs goes through `Database.run`. While the producer starts, a
database that stays locked past the busy timeout a few times in a row is an error a user sees.
Once it runs (`wait_out_locks`), a lock held by another connection is waited out for as long as it
lasts, with the service's health degraded meanwhile: the producer never stops, and never skips a
change, because some application holds a long write transaction.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

from shared.errors import PipelineError
from shared.metrics import Health

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_ATTEMPTS: Final = 3  # while starting: attempts of one busy timeout each before giving up
LOCK_LOG_INTERVAL: Final = 30.0  # seconds between log lines about one long-held lock
_BACKOFF_FIRST: Final = 0.05  # seconds slept after the first locked attempt, doubling each time
_BACKOFF_MAX: Final = 2.0
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def lock_backoff(attempt: int) -> float:
    """Seconds to sleep after the `attempt`-th locked attempt in a row (on top of the busy timeout)."""
    return min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** min(attempt - 1, 16))


class LockWait:
    """Waits out a locked database: retries forever (until `stop`), health degraded as "sqlite".

    Logs when a lock is first met, at most every LOCK_LOG_INTERVAL seconds while it lasts, and
    when it clears.
    """

    def __init__(self, path: Path, health: Health, stop: threading.Event) -> None:
        self._path = path
        self._health = health
        self._stop = stop
        self._since: float | None = None
        self._logged = 0.0

    def retry(self, attempt: int) -> bool:
        """After a locked attempt: sleep, then True to try again (False once `stop` is set)."""
        now = time.monotonic()
        if self._since is None:
            self._since = self._logged = now
            self._health.degrade("sqlite", "database locked by another connection, retrying")
            log.warning(
                "database %s locked by another connection: retrying until it is released",
                self._path,
            )
        elif now - self._logged >= LOCK_LOG_INTERVAL:
            self._logged = now
            log.warning(
                "database %s still locked after %.0fs, retrying", self._path, now - self._since
            )
        self._health.beat()
        return not self._stop.wait(lock_backoff(attempt))

    def cleared(self) -> None:
        """After a successful statement: end a lock episode, if one was going on."""
        if self._since is not None:
            log.info(
                "database %s lock released after %.1fs", self._path, time.monotonic() - self._since
            )
            self._since = None
            self._health.recover("sqlite")


class Database:
    """One connection to the database at `path` (autocommit; transactions are explicit)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._locks: LockWait | None = None
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

    def wait_out_locks(self, health: Health, stop: threading.Event) -> None:
        """From now on, retry a locked statement until the lock clears or `stop` is set."""
        self._locks = LockWait(self.path, health, stop)

    def run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """`action(connection)`, retried whole while the database is locked; sqlite errors -> PipelineError.

        `action` must be safe to repeat: a single statement, or one transaction (see `immediate`).
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                result = action(self.connection)
            except sqlite3.Error as error:
                if _is_locked(error) and self._retry(attempt):
                    continue
                raise self.error(error) from None
            if self._locks is not None:
                self._locks.cleared()
            return result

    def error(self, error: sqlite3.Error) -> PipelineError:
        """The PipelineError a user sees for a sqlite error on this database."""
        text = str(error)
        if _is_locked(error):
            return PipelineError(
                f"database {self.path} stayed locked by another connection for more than "
                f"{self.busy_timeout:g}s: end the long write transaction holding it or raise the busy timeout"
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

    def _retry(self, attempt: int) -> bool:
        if self._locks is not None:
            return self._locks.retry(attempt)
        if attempt >= LOCK_ATTEMPTS:
            return False
        log.warning(
            "database %s locked for %.1fs (attempt %d of %d), retrying",
            self.path,
            self.busy_timeout,
            attempt,
            LOCK_ATTEMPTS,
        )
        return True


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
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included (e.g. SQLITE_BUSY_SNAPSHOT)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES
