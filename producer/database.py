"""Opening the SQLite database and turning its errors into one-line, actionable messages.

Every statement the producer runs goes through `Database.run`, which follows the services' one
retry policy (`chinook_shared.retry`). While the producer starts, a database that stays locked past the
busy timeout a few times in a row is an error a user sees. Once it runs (`wait_out_locks`):
- a lock held by another connection is waited out for as long as it lasts, with backoff and the
  service's health `degraded`: the producer never stops, and never skips a change, because some
  application holds a long write transaction;
- a permanent fault (a table of the producer's gone) is reported `failing` and probed every
  `probe_interval`; once it has lasted `give_up_after` seconds the producer exits with the error.
Any other SQLite error ends the producer at once with its one-line message: waiting does not
repair a corrupt or unreadable file, and a restart by the orchestrator retries it.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import Failures, Fault, RetryPolicy, classify, report

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_ATTEMPTS: Final = 3  # while starting: attempts of one busy timeout each before giving up
LOCK_LOG_INTERVAL: Final = 30.0  # seconds between log lines about one long-held lock
LOCKED_REASON: Final = "database locked by another connection, retrying"
HEALTH_NAME: Final = "sqlite"
# Waits between locked attempts, on top of SQLite's own busy timeout: from 0.05 s up to 2 s.
SQLITE_POLICY: Final = RetryPolicy(base=0.025, cap=2.0)
_LOCKED: Final = Fault(permanent=False, cause="database is locked")
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def lock_backoff(attempt: int, policy: RetryPolicy = SQLITE_POLICY) -> float:
    """The longest wait after the `attempt`-th locked attempt in a row: the policy draws each
    wait between 0 and this (full jitter)."""
    return policy.delay(attempt, _LOCKED, lambda _low, high: high)


def is_locked(error: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included (e.g. SQLITE_BUSY_SNAPSHOT)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES


class _Patience:
    """A running producer's failures in a row: waits them out as the policy says (until `stop`),
    with health and the log saying why, and gives up on a permanent fault past its window."""

    def __init__(self, path: Path, policy: RetryPolicy, health: Health, stop: threading.Event):
        self._what = f"database {path}"
        self._policy = policy
        self._failures = Failures(policy)
        self._health = health
        self._stop = stop
        self._since = 0.0
        self._logged = 0.0

    def retry(self, error: sqlite3.Error) -> bool:
        """After a failed attempt: wait, then True to try again; False when the error is not
        worth waiting for, or once `stop` is set. Raises PipelineError past the give-up window."""
        if not is_locked(error) and not classify(error).permanent:
            return False
        first = self._failures.attempts == 0
        delay = self._failures.failed(error)
        if self._failures.exhausted():
            raise self._failures.give_up(self._what)
        if self._failures.failing:
            report(self._health, HEALTH_NAME, self._what, self._failures, log, delay)
        else:
            self._locked(first, lock_backoff(self._failures.attempts, self._policy))
        self._health.beat()
        return not self._stop.wait(delay)

    def succeeded(self) -> None:
        """After a successful statement: end a run of failures, if one was going on."""
        if self._failures.attempts:
            log.info("%s usable again after %.1fs", self._what, time.monotonic() - self._since)
            self._failures.succeeded()
            self._health.recover(HEALTH_NAME)

    def _locked(self, first: bool, longest_wait: float) -> None:
        now = time.monotonic()
        if first:
            self._since = self._logged = now
            log.warning(
                "%s locked by another connection: retrying until it is released", self._what
            )
        elif now - self._logged >= LOCK_LOG_INTERVAL:
            self._logged = now
            log.warning(
                "%s still locked after %.0fs, retrying (waits of up to %.1fs)",
                self._what,
                now - self._since,
                longest_wait,
            )
        self._health.degrade(HEALTH_NAME, LOCKED_REASON)


class Database:
    """One connection to the database at `path` (autocommit; transactions are explicit)."""

    def __init__(self, path: Path, busy_timeout: float, policy: RetryPolicy = SQLITE_POLICY):
        self.path = path
        self.busy_timeout = busy_timeout
        self._policy = policy
        self._patience: _Patience | None = None
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
        """From now on, wait out locks and permanent faults as the policy says (until `stop`)."""
        self._patience = _Patience(self.path, self._policy, health, stop)

    def run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """`action(connection)`, retried whole as the policy says; sqlite errors -> PipelineError.

        `action` must be safe to repeat: a single statement, or one transaction (see `immediate`).
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                result = action(self.connection)
            except sqlite3.Error as error:
                if self._retry(error, attempt):
                    continue
                raise self.error(error) from None
            if self._patience is not None:
                self._patience.succeeded()
            return result

    def error(self, error: sqlite3.Error) -> PipelineError:
        """The PipelineError a user sees for a sqlite error on this database."""
        text = str(error)
        if is_locked(error):
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
        fault = classify(error)
        return PipelineError(f"database {self.path}: {fault if fault.permanent else text}")

    def _retry(self, error: sqlite3.Error, attempt: int) -> bool:
        if self._patience is not None:
            return self._patience.retry(error)
        if not is_locked(error) or attempt >= LOCK_ATTEMPTS:
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
