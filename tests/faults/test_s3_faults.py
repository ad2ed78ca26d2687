"""S3 faults the consumer must tell apart, on real parts: a permanent one (access denied), given
up on past --give-up-after or recovered from within it, and transient ones on the journal reads
that decide where each newly assigned partition starts. Every scenario ends with `verify`."""

import time

import pytest

from tests.conftest import wait_for
from tests.faults.audit import uncovered_commits
from tests.faults.processes import Pipeline, Service, start_writes
from tests.faults.s3_proxy import S3FaultProxy
from tests.faults.scenario import (
    SEED,
    WRITE_SECONDS,
    WRITES,
    all_alive,
    arrives,
    assigned,
    publishing,
    stop_ok,
)

pytestmark = pytest.mark.slow

GIVE_UP = 8.0  # --give-up-after of the access-denied scenarios: probes every 8 s


def failing_with(consumer: Service, cause: str) -> dict[str, object] | None:
    """The /healthz body once it answers 503 `failing` naming `cause` (None before)."""
    status, body = consumer.health()
    if status == 503 and body.get("status") == "failing" and cause in str(body["reasons"]):
        return body
    assert consumer.running(), f"{consumer.name} exited:\n{consumer.output()[-4000:]}"
    return None


def test_s3_access_denied_fails_health_then_gives_up_with_nothing_committed_past_s3(
    pipeline: Pipeline, s3_env: dict[str, str], s3_client: object
) -> None:
    """A permanent fault is not retried like an outage: health says `failing` with the cause at
    once, and past --give-up-after the consumer exits non-zero with one line and commits
    nothing S3 does not hold."""
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        producer = pipeline.start_producer()
        publishing(producer)
        consumer = pipeline.start_consumer(
            "--s3-endpoint-url", proxy.endpoint_url, "--give-up-after", str(GIVE_UP)
        )
        wait_for(
            lambda: consumer.metrics().get("chinook_consumer_offsets_committed_total"),
            "a first commit",
        )
        proxy.deny = "writes"
        writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 8)
        body = wait_for(lambda: failing_with(consumer, "AccessDenied"), "health to say failing")
        felt = consumer.metrics()
        started = time.monotonic()
        code = consumer.process.wait(timeout=GIVE_UP + 120)
        took = time.monotonic() - started
        writes.join()
        proxy.deny = None
        print(f"health: {body}; exited {code} {took:.1f}s after failing; proxy {proxy.counts()}")
        assert code != 0
        errors = [line for line in consumer.output().splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and "AccessDenied" in errors[0] and "giving up" in errors[0], (
            consumer.output()[-4000:]
        )
        assert "IAM policy" in str(body["reasons"])
        assert felt.get("chinook_consumer_permanent_errors_total", 0) >= 1, felt
        assert felt.get("chinook_consumer_failing") == 1, felt
        assert not uncovered_commits(
            pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
        )
        all_alive(producer)
        stop_ok(producer)
        pipeline.produce_all()
        pipeline.consume_all("--s3-endpoint-url", proxy.endpoint_url)
    pipeline.verify_ok()


def test_s3_access_denied_then_restored_within_the_window_recovers(
    pipeline: Pipeline, s3_env: dict[str, str], s3_client: object
) -> None:
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        producer = pipeline.start_producer()
        publishing(producer)
        consumer = pipeline.start_consumer(
            "--s3-endpoint-url", proxy.endpoint_url, "--give-up-after", str(GIVE_UP * 3)
        )
        wait_for(
            lambda: consumer.metrics().get("chinook_consumer_offsets_committed_total"),
            "a first commit",
        )
        proxy.deny = "writes"
        writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 9)
        wait_for(lambda: failing_with(consumer, "AccessDenied"), "health to say failing")
        proxy.deny = None
        wait_for(lambda: consumer.health() == (200, {"status": "ok", "reasons": []}), "recovery")
        assert consumer.metrics().get("chinook_consumer_failing") == 0
        writes.join()
        arrives(pipeline, producer, consumer)
        all_alive(producer, consumer)
        stop_ok(producer, consumer)
        counts = proxy.counts()
    assert counts["denied"], counts
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    pipeline.verify_ok()


def test_s3_faults_on_the_journal_reads_at_assignment_are_ridden_out(
    pipeline: Pipeline, s3_env: dict[str, str], s3_client: object
) -> None:
    """Journal reads happen at every assignment: with most of them failing (errors, resets,
    delays) the consumer keeps running, new members join, and every change arrives once."""
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        proxy.configure(
            error_rate=0.5,
            reset_rate=0.25,
            delay_rate=0.2,
            delay=0.5,
            method="GET",
            path_contains="/_chinook/journal/",
        )
        producer = pipeline.start_producer()
        publishing(producer)
        first = pipeline.start_consumer("--s3-endpoint-url", proxy.endpoint_url)
        writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 10)
        wait_for(lambda: assigned(first.metrics()) or not first.running(), "a first assignment")
        second = pipeline.start_consumer("--s3-endpoint-url", proxy.endpoint_url)
        writes.join()
        arrives(pipeline, producer, first, second)
        all_alive(producer, first, second)
        stop_ok(producer, first, second)
        counts = proxy.counts()
    print(f"S3 proxy: {dict(counts)}")
    assert counts["error_500"] and counts["error_503"] and counts["reset_before"], counts
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    pipeline.verify_ok()
