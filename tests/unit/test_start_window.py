"""The start window: a dependency that has never answered at start ends the process with what to
check; one that has answered is waited for as before."""

import logging
import threading

import pytest
from botocore.exceptions import EndpointConnectionError

from chinook_consumer.objects import bucket
from chinook_consumer.settings import ConsumerSettings
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from chinook_shared.retry import Failures, RetryPolicy, StartWindow, retry_call
from chinook_shared.s3 import S3Settings

FAST = RetryPolicy(base=0.001, cap=0.001, probe_interval=0.001)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_window_cuts_the_last_wait_and_then_names_what_to_check() -> None:
    clock = Clock()
    window = StartWindow(10.0, "fix --s3-endpoint-url", clock)
    failures = Failures(RetryPolicy())
    failures.failed(EndpointConnectionError(endpoint_url="http://s3"))
    assert window.cut(30.0) == 10.0
    clock.now += 8
    window.check("checking bucket b", failures)  # within the window: no error
    assert window.cut(30.0) == pytest.approx(2.0)
    clock.now += 2
    with pytest.raises(PipelineError) as raised:
        window.check("checking bucket b", failures)
    message = str(raised.value)
    assert "checking bucket b has failed since the start, 10s ago" in message
    assert "EndpointConnectionError" in message and "fix --s3-endpoint-url" in message
    assert "--start-timeout" in message


def test_a_zero_window_waits_forever() -> None:
    clock = Clock()
    window = StartWindow(0.0, "", clock)
    clock.now += 1e6
    window.check("x", Failures(RetryPolicy()))
    assert window.cut(30.0) == 30.0


def test_retry_call_ends_at_the_window_when_the_operation_never_succeeds() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(PipelineError, match=r"opening the catalog has failed since the start"):
        retry_call(
            down,
            "opening the catalog",
            policy=FAST,
            health=Health(),
            name="tables",
            stop=threading.Event(),
            log=logging.getLogger("test"),
            window=StartWindow(0.05, "check the catalog"),
        )
    assert len(calls) > 1  # retried within the window first


class UnreachableBucket:
    """Stands in for the S3 client's bucket check against an endpoint that never answers."""

    meta = type("Meta", (), {"endpoint_url": "http://127.0.0.1:9"})()

    def head_bucket(self, Bucket: str) -> None:
        raise EndpointConnectionError(endpoint_url=f"http://127.0.0.1:9/{Bucket}")


def test_the_bucket_check_ends_at_the_start_timeout_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bucket, "retry_policy", lambda settings: FAST)
    settings = ConsumerSettings(
        kafka=KafkaSettings("localhost:1"), s3=S3Settings(), bucket="eval-x", start_timeout=0.05
    )
    health = Health()
    with pytest.raises(PipelineError) as raised:
        bucket.wait_for_bucket(UnreachableBucket(), settings, health, threading.Event())
    message = str(raised.value)
    assert "checking bucket eval-x at http://127.0.0.1:9" in message
    assert "--s3-endpoint-url" in message and "\n" not in message
