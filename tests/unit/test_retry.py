"""The retry policy: which faults are permanent, the waits, the give-up window, and health."""

import logging
import sqlite3
import threading

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, NoCredentialsError

from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.retry import Failures, RetryPolicy, classify, retry_call


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutObject")


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (client_error("AccessDenied", "Access Denied"), True),
        (client_error("NoSuchBucket"), True),
        (client_error("InvalidAccessKeyId"), True),
        (client_error("SignatureDoesNotMatch"), True),
        (client_error("KMS.DisabledException"), True),
        (NoCredentialsError(), True),
        (sqlite3.OperationalError("no such table: Customer"), True),
        (client_error("SlowDown"), False),
        (client_error("InternalError"), False),
        (client_error("503"), False),
        (ConnectionClosedError(endpoint_url="http://s3"), False),
        (TimeoutError("read timed out"), False),
        (sqlite3.OperationalError("database is locked"), False),
    ],
)
def test_classify(error: Exception, permanent: bool) -> None:
    fault = classify(error)
    assert fault.permanent is permanent
    assert bool(fault.fix) is permanent


def test_classify_iceberg_and_catalog_faults() -> None:
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    locked = OperationalError(
        "INSERT INTO iceberg_tables ...", {}, sqlite3.OperationalError("database is locked")
    )
    down = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    denied = ProgrammingError("SELECT", {}, Exception("permission denied for table iceberg_tables"))
    for error in (CommitFailedException("conflict"), locked, down):
        fault = classify(error)
        assert not fault.permanent and "\n" not in fault.cause, fault
    assert "database is locked" in classify(locked).cause
    refused = [
        OperationalError("SELECT 1", {}, Exception(f"connection to server failed: FATAL:  {text}"))
        for text in (
            'password authentication failed for user "chinook"',
            'database "iceberg" does not exist',
            'role "chinook" does not exist',
        )
    ]
    for error in (NoSuchTableError("Table does not exist: chinook.x"), denied, *refused):
        fault = classify(error)
        assert fault.permanent and fault.fix, fault


def test_table_metadata_gone_from_s3_is_permanent_and_named() -> None:
    """What pyarrow raises when a catalog points to a metadata file an emptied S3 lacks."""
    gone = FileNotFoundError(
        "Path does not exist 'chinook-lake/iceberg/chinook/customer_changes/metadata/"
        "00084-9d1f.metadata.json'. Detail: [errno 2] No such file or directory"
    )
    fault = classify(gone)
    assert fault.permanent and str(fault).startswith("table metadata gone: Path does not exist")
    assert "delete a SQLite catalog" in fault.fix and "data/iceberg.db" in fault.fix
    assert not classify(FileNotFoundError("chinook-lake/x/data/00000-0-a.parquet")).permanent


def test_transient_waits_grow_with_full_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=30.0)
    transient = classify(client_error("SlowDown"))
    upper = lambda low, high: high  # noqa: E731 (the jitter's upper bound)
    assert [policy.delay(n, transient, upper) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]
    assert policy.delay(3, transient, lambda low, high: low) == 0.0


def test_permanent_faults_probe_and_give_up_after_the_window() -> None:
    now = [0.0]
    failures = Failures(RetryPolicy(probe_interval=30, give_up_after=600), clock=lambda: now[0])
    assert failures.failed(client_error("AccessDenied")) == 30
    assert failures.failing and not failures.exhausted()
    now[0] = 599.0
    failures.failed(client_error("AccessDenied"))
    assert not failures.exhausted()
    now[0] = 600.0
    assert failures.exhausted()
    assert "AccessDenied" in str(failures.give_up("upload"))


def test_a_transient_fault_or_a_success_restarts_the_window() -> None:
    now = [0.0]
    failures = Failures(RetryPolicy(give_up_after=10), clock=lambda: now[0])
    failures.failed(client_error("AccessDenied"))
    now[0] = 8.0
    failures.failed(client_error("SlowDown"))
    failures.failed(client_error("AccessDenied"))
    now[0] = 17.0
    assert not failures.exhausted()
    failures.succeeded()
    assert failures.attempts == 0 and not failures.failing


def test_zero_means_never_give_up() -> None:
    now = [0.0]
    failures = Failures(RetryPolicy(give_up_after=0), clock=lambda: now[0])
    failures.failed(client_error("AccessDenied"))
    now[0] = 1e9
    assert not failures.exhausted()


def test_health_fails_on_permanent_faults_and_recovers() -> None:
    health = Health()
    outcomes = iter([client_error("AccessDenied"), client_error("SlowDown"), None])
    seen: list[tuple[int, str]] = []

    def operation() -> str:
        status, body = health.report()
        seen.append((status, str(body["status"])))
        error = next(outcomes)
        if error is not None:
            raise error
        return "done"

    policy = RetryPolicy(base=0.001, cap=0.001, probe_interval=0.001)
    log = logging.getLogger("test")
    result = retry_call(
        operation, "read", policy=policy, health=health, name="s3", stop=threading.Event(), log=log
    )
    assert result == "done"
    assert seen == [(200, "ok"), (503, "failing"), (200, "degraded")]
    assert health.report() == (200, {"status": "ok", "reasons": []})


def test_retry_call_gives_up_with_the_cause() -> None:
    def denied() -> None:
        raise client_error("AccessDenied", "Access Denied")

    policy = RetryPolicy(probe_interval=0.001, give_up_after=0.01)
    with pytest.raises(PipelineError, match=r"AccessDenied.*giving up"):
        retry_call(
            denied,
            "journal read",
            policy=policy,
            health=Health(),
            name="s3",
            stop=threading.Event(),
            log=logging.getLogger("test"),
        )
