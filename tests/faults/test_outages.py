"""Fault injection on real parts, outages: S3 behind a fault proxy (errors, resets, delays, an
outage, SIGTERM during one) and a broker restart. Every scenario ends with `chinook-pipeline
verify` exiting 0: every change in S3, none twice. The scenarios run once per object format.

Counts are small by default; CHINOOK_SOAK=1 runs the soak sizes. All waits are bounded polls for a
condition; nothing asserts on speed.
"""

import time
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.audit import uncovered_commits
from tests.faults.processes import Pipeline, start_writes
from tests.faults.s3_proxy import S3FaultProxy
from tests.faults.scenario import (
    BOTH_FORMATS,
    OUTAGE_SECONDS,
    SEED,
    SEEDED,
    SMALL_BATCHES,
    WRITE_SECONDS,
    WRITES,
    all_alive,
    arrives,
    publishing,
    stop_ok,
)

pytestmark = pytest.mark.slow


@BOTH_FORMATS
def test_s3_errors_resets_and_delays(
    pipeline: Pipeline, s3_env: dict[str, str], s3_client: object
) -> None:
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        proxy.configure(error_rate=0.2, reset_rate=0.05, delay_rate=0.1, delay=0.5)
        producer = pipeline.start_producer()
        publishing(producer)
        consumer = pipeline.start_consumer("--s3-endpoint-url", proxy.endpoint_url)
        writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 2)
        writes.join()
        arrives(pipeline, producer, consumer)
        all_alive(producer, consumer)
        stop_ok(producer, consumer)
        pipeline.consume_all("--s3-endpoint-url", proxy.endpoint_url)
        counts = proxy.counts()
    print(f"S3 proxy: {dict(counts)}")
    assert counts["error_500"] and counts["error_503"], counts
    assert counts["reset_before"] and counts["reset_after"] and counts["delayed"], counts
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    pipeline.verify_ok()


@BOTH_FORMATS
def test_s3_outage_mid_run(pipeline: Pipeline, s3_env: dict[str, str], s3_client: object) -> None:
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        producer = pipeline.start_producer()
        publishing(producer)
        consumer = pipeline.start_consumer("--s3-endpoint-url", proxy.endpoint_url)
        writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 3)
        wait_for(
            lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED),
            "a first commit",
        )
        outage = proxy.refuse_for(OUTAGE_SECONDS)
        audits = 0
        while outage.is_alive():
            problems = uncovered_commits(
                pipeline.bootstrap_servers,
                pipeline.group,
                pipeline.topic,
                s3_client,
                pipeline.bucket,
            )
            assert not problems, f"offsets committed for records not in S3: {problems}"
            audits += 1
        felt = consumer.metrics()
        writes.join()
        arrives(pipeline, producer, consumer)
        all_alive(producer, consumer)
        stop_ok(producer, consumer)
        counts = proxy.counts()
    print(f"{audits} audits during a {OUTAGE_SECONDS:.0f}s outage; proxy {dict(counts)}")
    assert (
        felt.get(names.CONSUMER_UPLOAD_FAILURES)
        or felt.get(names.CONSUMER_UPLOAD_RETRIES)
        or counts["refused"]
    ), felt
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    pipeline.verify_ok()


def test_broker_restart_mid_run(
    cli: Cli,
    s3_server: embedded.S3Server,
    s3_client: object,
    topic: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    broker = kafka.start_cluster(tmp_path / "kafka")
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", str(SEEDED))
    logs = tmp_path / "logs"
    logs.mkdir()
    pipeline = Pipeline(
        cli, db, broker.bootstrap_servers, topic, bucket, logs, consumer_options=SMALL_BATCHES
    )
    try:
        producer = pipeline.start_producer()
        publishing(producer)
        consumer = pipeline.start_consumer()
        writes, _ = start_writes(db, WRITES, WRITES / WRITE_SECONDS, SEED + 4)
        wait_for(
            lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED),
            "a first commit",
        )
        broker.restart()
        writes.join()
        arrives(pipeline, producer, consumer)
        all_alive(producer, consumer)
        stop_ok(producer, consumer)
        pipeline.verify_ok()
    finally:
        pipeline.kill_all()
        broker.stop()


@BOTH_FORMATS
def test_sigterm_during_an_s3_outage_exits_by_the_deadline_without_committing(
    pipeline: Pipeline, s3_env: dict[str, str], s3_client: object
) -> None:
    """Graceful shutdown has a deadline: past it the consumer exits without committing what is
    not durable, and the next consumer delivers it."""
    with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED) as proxy:
        pipeline.produce_all()
        consumer = pipeline.start_consumer(
            "--s3-endpoint-url",
            proxy.endpoint_url,
            "--flush-records",
            "1000000",
            "--flush-age",
            "3600",
            "--shutdown-timeout",
            "2",
        )
        wait_for(
            lambda: consumer.metrics().get(names.CONSUMER_BUFFERED_RECORDS), "records buffered"
        )
        proxy.refuse = True
        started = time.monotonic()
        code = consumer.stop(timeout=120)
        took = time.monotonic() - started
        proxy.refuse = False
    assert code == 0, consumer.output()[-4000:]
    assert "not in S3" in consumer.output(), consumer.output()[-4000:]
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    print(f"consumer stopped {took:.1f}s after SIGTERM with a 2 s deadline while S3 was down")
    pipeline.consume_all()
    pipeline.verify_ok()
