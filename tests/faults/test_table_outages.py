"""Faults of the consumer writing Iceberg tables while the database keeps changing, outages: S3
errors, resets and delays on its S3 traffic (at the object suite's rates too) and an S3 outage
longer than its give-up window. Afterwards every change is in the change table exactly once and
the state table equals the database (`chinook-pipeline iceberg verify`)."""

import time
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.processes import start_writes
from tests.faults.s3_proxy import S3FaultProxy
from tests.faults.scenario import SEED, all_alive, publishing, stop_ok
from tests.faults.table_scenario import (
    BATCHES,
    OUTAGE_SECONDS,
    SEEDED,
    WRITE_SECONDS,
    WRITES,
    tables_arrive,
)
from tests.faults.test_s3_faults import GIVE_UP
from tests.table_cli import catalog_uri, table_pipeline

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("rates", "seed"),
    [
        (dict(error_rate=0.05, reset_rate=0.02, delay_rate=0.05, delay=0.3), SEED + 21),
        # the rates of test_faults.test_s3_errors_resets_and_delays: a table commit makes tens of
        # S3 requests, so each request is retried on its own (pyarrow's retry strategy) rather
        # than the whole commit
        (dict(error_rate=0.2, reset_rate=0.05, delay_rate=0.1, delay=0.5), SEED + 23),
    ],
    ids=["low-rates", "object-suite-rates"],
)
def test_table_consumer_s3_errors_resets_and_delays(
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    tmp_path: Path,
    s3_env: dict[str, str],
    rates: dict[str, float],
    seed: int,
) -> None:
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES)
    try:
        with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=seed) as proxy:
            proxy.configure(**rates)
            producer = pipeline.start_producer()
            publishing(producer)
            consumer = pipeline.start_consumer("--s3-endpoint-url", proxy.endpoint_url)
            writes, counts = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, seed)
            writes.join()
            assert counts.get("update") and counts.get("delete"), counts
            summary = tables_arrive(pipeline, catalog_uri(tmp_path), producer, consumer)
            failed = consumer.metrics().get(names.CONSUMER_UPLOAD_FAILURES)
            all_alive(producer, consumer)
            stop_ok(producer, consumer)
            faults = proxy.counts()
        print(f"S3 proxy: {dict(faults)}; commits failed after the request retries: {failed}")
        assert faults["error_500"] and faults["error_503"], faults
        assert faults["reset_before"] and faults["reset_after"] and faults["delayed"], faults
        assert " 0 duplicate events" in summary, summary
    finally:
        pipeline.kill_all()


def test_table_consumer_survives_an_s3_outage_longer_than_its_give_up_window(
    cli: Cli,
    broker: kafka.Cluster,
    topic: str,
    bucket: str,
    tmp_path: Path,
    s3_env: dict[str, str],
) -> None:
    """S3 refuses every connection for longer than --give-up-after while the database keeps
    changing: an outage is transient, so the consumer reports `degraded` (never `failing`), keeps
    running, and catches up once S3 is back."""
    pipeline = table_pipeline(cli, broker, topic, bucket, tmp_path, SEEDED, BATCHES)
    try:
        with S3FaultProxy(s3_env["AWS_ENDPOINT_URL_S3"], seed=SEED + 24) as proxy:
            producer = pipeline.start_producer()
            publishing(producer)
            consumer = pipeline.start_consumer(
                "--s3-endpoint-url", proxy.endpoint_url, "--give-up-after", str(GIVE_UP)
            )
            writes, counts = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 24)
            wait_for(
                lambda: consumer.metrics().get(names.CONSUMER_OFFSETS_COMMITTED),
                "a first commit",
            )
            outage = proxy.refuse_for(OUTAGE_SECONDS)
            seen: set[str] = set()
            while outage.is_alive():
                all_alive(consumer)
                status, body = consumer.health()
                seen.add(str(body.get("status")))
                assert status == 200, f"health {status} during the outage: {body}"
                time.sleep(0.5)
            writes.join()
            assert counts.get("update") and counts.get("delete"), counts
            summary = tables_arrive(pipeline, catalog_uri(tmp_path), producer, consumer)
            felt = consumer.metrics()
            wait_for(lambda: consumer.health() == (200, {"status": "ok", "reasons": []}), "ok")
            all_alive(producer, consumer)
            stop_ok(producer, consumer)
        failed = felt.get(names.CONSUMER_UPLOAD_FAILURES)
        print(f"during a {OUTAGE_SECONDS:.0f}s outage: health {seen}, {failed} failed commits")
        assert "degraded" in seen, seen
        assert failed, felt
        assert " 0 duplicate events" in summary, summary
    finally:
        pipeline.kill_all()
