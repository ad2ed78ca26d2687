"""The one retry policy of both services: which errors are worth retrying, and how long to wait.

boto3, pyarrow (the Iceberg tables' S3 requests) and librdkafka retry single requests first; this
policy decides what happens when an operation still fails after theirs:
- A transient fault (5xx, SlowDown and other throttling, timeouts, connection resets, a locked
  SQLite database, an Iceberg catalog down or locked, a commit conflict) is retried with capped exponential backoff and full jitter for as long as it
  lasts; the service reports itself `degraded`.
- A permanent fault (access denied, a missing bucket, bad credentials, a disabled KMS key, a
  missing table, a missing Iceberg table or its metadata gone from S3, a denied catalog or one that refuses the login) will not clear by itself: it is logged at ERROR with its fix, the service reports
  `failing`, retries slow to one probe every `probe_interval`, and once the fault has lasted
  `give_up_after` seconds (0: never) the caller gives up and the process exits non-zero, so an
  orchestrator restarts it and someone is alerted. A probe that succeeds recovers by itself.

Hand-written on purpose: tenacity and stamina wrap a blocking call, but the consumer's loop must
go on consuming other partitions while one waits, so the waits are computed, not slept.
"""

import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from chinook_shared.errors import PipelineError
from chinook_shared.health import Health

T = TypeVar("T")

# Iceberg and catalog errors, by class name so that nothing here imports pyiceberg or SQLAlchemy:
# permanent ones with their fix; the rest of these (a commit conflict that outlasted the
# committer's own retries, the catalog database locked or unreachable) are transient.
_PERMANENT_TABLE: Final[dict[str, str]] = {
    "pyiceberg.exceptions.NoSuchTableError": "restore the table, or fix --table/--state-table",
    "pyiceberg.exceptions.NoSuchNamespaceError": "restore the namespace, or fix --table",
    "pyiceberg.exceptions.ForbiddenError": "grant the catalog credentials access to the table",
    "pyiceberg.exceptions.UnauthorizedError": "fix the catalog credentials",
    "sqlalchemy.exc.ProgrammingError": "grant the catalog user access to the catalog's tables",
}
# A catalog database that refuses the login is an OperationalError like one that is down, and
# psycopg2 gives connection failures no error code: only the server's message tells them apart.
_PERMANENT_CATALOG_LOGIN: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (
        re.compile(r"password authentication failed|no pg_hba\.conf entry"),
        "fix the user or password in the catalog URI (--catalog-uri or --catalog-uri-file)",
    ),
    (
        re.compile(r'(database|role) "[^"]*" does not exist'),
        "create the catalog's database and user, or fix --catalog-uri",
    ),
)
_TRANSIENT_TABLE: Final = frozenset(
    {
        "pyiceberg.exceptions.CommitFailedException",
        "pyiceberg.exceptions.ServiceUnavailableError",
        "sqlalchemy.exc.OperationalError",
    }
)

# An Iceberg table's metadata file that S3 does not have: the catalog points to a table whose
# files are gone (its bucket emptied, an in-memory S3 server restarted), which no retry brings back.
METADATA_FILE: Final = ".metadata.json"
METADATA_GONE_FIX: Final = (
    "the catalog points to table files that are gone from S3 (bucket emptied, or an S3 server "
    "restarted without its data): drop the table from the catalog, or delete a SQLite catalog "
    "made for that data (`make dev`: data/iceberg.db), and the consumer creates it again"
)

# S3 error codes that no retry can fix, with what the operator should do.
_PERMANENT_S3: Final[dict[str, str]] = {
    "AccessDenied": "grant the credentials' IAM policy access to the bucket (see docs/aws.md)",
    "403": "grant the credentials' IAM policy access to the bucket (see docs/aws.md)",
    "AllAccessDisabled": "re-enable access to the bucket",
    "AccountProblem": "fix the AWS account",
    "NoSuchBucket": "create it with `chinook-pipeline bucket setup`",
    "InvalidAccessKeyId": "fix AWS_ACCESS_KEY_ID (or the profile or role in use)",
    "SignatureDoesNotMatch": "fix AWS_SECRET_ACCESS_KEY (or the profile or role in use)",
    "ExpiredToken": "refresh the session credentials",
    "InvalidToken": "refresh the session credentials",
    "KMS.DisabledException": "enable the bucket's KMS key",
    "KMS.NotFoundException": "point the bucket's encryption at an existing KMS key",
    "KMS.KMSInvalidStateException": "enable the bucket's KMS key",
    "KMS.AccessDeniedException": "grant the credentials kms:GenerateDataKey on the bucket's key",
}


@dataclass(frozen=True)
class Fault:
    """What went wrong, in one line free of secrets, and whether waiting can fix it."""

    permanent: bool
    cause: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.cause}: {self.fix}" if self.fix else self.cause


def classify(error: BaseException) -> Fault:
    """Sort an exception into transient or permanent. Unknown errors count as transient: the
    service keeps its data and keeps trying, and `degraded` health shows it."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = str(info.get("Code", ""))
        cause = f"{code}: {info.get('Message', '')}".strip().rstrip(":")
        fix = _PERMANENT_S3.get(code)
        return Fault(fix is not None, cause, fix or "")
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return Fault(
            True,
            "no AWS credentials",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role",
        )
    if isinstance(error, sqlite3.OperationalError):
        text = str(error)
        if text.startswith("no such table"):
            return Fault(True, text, "restore the table, or point --db at the right file")
        return Fault(False, text)
    if isinstance(error, FileNotFoundError) and METADATA_FILE in str(error):
        return Fault(True, f"table metadata gone: {_first_line(error)}", METADATA_GONE_FIX)
    fault = _table_fault(error)
    if fault is not None:
        return fault
    return Fault(False, f"{type(error).__name__}: {error}")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _table_fault(error: BaseException) -> Fault | None:
    """An Iceberg or catalog error sorted by its class, in one line (SQLAlchemy appends the SQL
    statement on further lines); None for any other error."""
    for cls in type(error).__mro__:
        name = f"{cls.__module__}.{cls.__name__}"
        fix = _PERMANENT_TABLE.get(name)
        if fix is not None or name in _TRANSIENT_TABLE:
            text = (str(error).strip().splitlines() or [""])[0]
            fix = fix or next((f for p, f in _PERMANENT_CATALOG_LOGIN if p.search(text)), None)
            return Fault(fix is not None, f"{type(error).__name__}: {text}", fix or "")
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts: exponential from `base` to `cap` with full jitter while the fault
    is transient; every `probe_interval` while it is permanent."""

    base: float = 0.5
    cap: float = 30.0
    probe_interval: float = 30.0
    give_up_after: float = 600.0

    def __post_init__(self) -> None:
        if self.give_up_after < 0:
            raise PipelineError("--give-up-after must be 0 (never) or a positive number of seconds")

    def delay(
        self, attempt: int, fault: Fault, rng: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Seconds to wait after the `attempt`-th failure in a row (1 for the first)."""
        if fault.permanent:
            return self.probe_interval
        return rng(0.0, min(self.cap, self.base * 2 ** min(attempt, 16)))


class Failures:
    """The failures in a row of one operation: the next wait, and whether to give up.

    `clock` is injectable so that the decisions can be tested without sleeping.
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self.attempts = 0
        self.fault: Fault | None = None
        self._permanent_since: float | None = None

    def failed(self, error: BaseException) -> float:
        """Record a failure; the seconds to wait before the next attempt."""
        self.attempts += 1
        self.fault = classify(error)
        if not self.fault.permanent:
            self._permanent_since = None
        elif self._permanent_since is None:
            self._permanent_since = self._clock()
        return self._policy.delay(self.attempts, self.fault)

    def succeeded(self) -> None:
        self.attempts, self.fault, self._permanent_since = 0, None, None

    @property
    def failing(self) -> bool:
        """The last failure was permanent."""
        return self.fault is not None and self.fault.permanent

    def exhausted(self) -> bool:
        """A permanent fault has lasted past `give_up_after` (never when that is 0)."""
        if self._permanent_since is None or self._policy.give_up_after == 0:
            return False
        return self._clock() - self._permanent_since >= self._policy.give_up_after

    def give_up(self, what: str) -> PipelineError:
        """The error to exit with once `exhausted()`."""
        return PipelineError(
            f"{what} failed for {self._policy.give_up_after:.0f}s with {self.fault}; giving up "
            "(nothing was committed past what is stored)"
        )


class StartWindow:
    """How long a dependency may go without answering at start (0: forever).

    A dependency that has never answered at start is most often a wrong endpoint, which no wait
    fixes: past the window the process ends with one line naming what to check. Once it has
    answered, the window no longer applies and later outages are transient as usual.
    """

    def __init__(
        self, seconds: float, check: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds, self._check, self._clock = seconds, check, clock
        self._started = clock()

    def cut(self, delay: float) -> float:
        """`delay`, cut so that the next attempt comes no later than the window's end."""
        if not self._seconds:
            return delay
        return max(0.0, min(delay, self._started + self._seconds - self._clock()))

    def check(self, what: str, failures: Failures) -> None:
        """Raise PipelineError once the window has passed without an answer."""
        if self._seconds and self._clock() - self._started >= self._seconds:
            raise PipelineError(
                f"{what} has failed since the start, {self._seconds:g}s ago ({failures.fault}): "
                f"{self._check} (--start-timeout sets how long to wait)"
            )


def report(
    health: Health, name: str, what: str, failures: Failures, log: logging.Logger, delay: float
) -> None:
    """Show the last failure in health and the log: `degraded` and a WARNING while transient,
    `failing` and an ERROR naming the fix while permanent."""
    fault = failures.fault
    assert fault is not None
    if fault.permanent:
        health.fail(name, f"{what}: {fault}")
        log.error("%s failed: %s (next probe in %.0fs)", what, fault, delay)
    else:
        health.degrade(name, f"{what}: {fault}; retrying")
        log.warning("%s failed: %s; retry in %.1fs", what, fault, delay)


def retry_call(
    operation: Callable[[], T],
    what: str,
    *,
    policy: RetryPolicy,
    health: Health,
    name: str,
    stop: threading.Event,
    log: logging.Logger,
    window: StartWindow | None = None,
) -> T:
    """Run a blocking operation until it succeeds, waiting as the policy says between attempts.

    Raises PipelineError when a permanent fault outlasts the policy's window, when the operation
    has not succeeded within the start `window` (if given), or when `stop` is set while waiting
    (the caller is shutting down and the operation did not happen).
    """
    failures = Failures(policy)
    while True:
        health.beat()
        try:
            result = operation()
        except Exception as error:
            delay = failures.failed(error)
            if failures.exhausted():
                raise failures.give_up(what) from None
            if window is not None:
                window.check(what, failures)
                delay = window.cut(delay)
            report(health, name, what, failures, log, delay)
            if stop.wait(delay):
                raise PipelineError(f"stopped while retrying {what}") from None
            continue
        if failures.attempts:
            health.recover(name)
            log.info("%s succeeded after %d failures", what, failures.attempts)
        return result
