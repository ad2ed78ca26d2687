"""What happens to the consumer at assignment, on a real Tansu broker and a real moto S3 server:
journal reads that fail are retried without leaving the group, and a member given no partition
says so instead of looking healthy forever."""

import threading
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from chinook_consumer.service import run_consumer
from chinook_pipeline.local import embedded, kafka
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.s3 import S3Settings
from tests.conftest import wait_for
from tests.faults.s3_proxy import S3FaultProxy
from tests.integration.test_consumer_service import (
    FAST_GROUP,
    HOUR_10,
    all_sequences,
    changes,
    committed,
    consumer_settings,
    metric,
    produce,
    stored,
    until,
)


def reasons(health: Health) -> str:
    return str(health.report()[1].get("reasons"))


def test_failing_journal_reads_are_retried_and_the_partitions_start_once_they_succeed(
    broker: kafka.Cluster, s3_server: embedded.S3Server, s3_client: Any, bucket: str, topic: str
) -> None:
    """Every journal read fails (boto3 gives up after one retry here): the consumer stays in its
    group with `degraded` health, and starts the partitions once S3 answers again."""
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, changes(0, 20, HOUR_10, 1000), partitions=2)
    stop, health = threading.Event(), Health()
    with S3FaultProxy(s3_server.endpoint_url, seed=3) as proxy:
        proxy.configure(
            error_rate=0.6, reset_rate=0.4, method="GET", path_contains="/_chinook/journal/"
        )
        s3_settings = S3Settings(endpoint_url=proxy.endpoint_url, max_attempts=1)
        settings = replace(
            consumer_settings(bootstrap, bucket, topic, group, exit_when_idle=False), s3=s3_settings
        )
        worker = threading.Thread(target=run_consumer, args=(settings, health, stop))
        worker.start()
        try:
            until(lambda: "finding the position" in reasons(health), worker)
            assert health.report()[1]["status"] == "degraded"
            assert not stored(s3_client, bucket)  # no partition started before its journal read
            until(lambda: proxy.counts()["error_500"] + proxy.counts()["reset_before"] > 6, worker)
            proxy.configure()
            until(lambda: all_sequences(stored(s3_client, bucket)) == Counter(range(20)), worker)
            until(lambda: health.report()[1]["status"] == "ok", worker)
        finally:
            stop.set()
            worker.join(60)
    assert not worker.is_alive()
    ends = committed(bootstrap, group, topic, 2)
    assert sum(ends.values()) == 20


def hold_every_partition(
    bootstrap: str, group: str, topic: str, owns: threading.Event, stop: threading.Event
) -> None:
    """A plain member of `group` that keeps what it is assigned (sticky) until `stop`."""
    member = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "cooperative-sticky",
            **FAST_GROUP,
        }
    )

    def assigned(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        if partitions:
            owns.set()

    member.subscribe([topic], on_assign=assigned)
    try:
        while not stop.is_set():
            member.poll(0.1)
    finally:
        member.close()


@pytest.mark.parametrize("exit_when_idle", [False, True])
def test_a_member_given_no_partition_says_so(
    broker: kafka.Cluster, s3_env: Any, bucket: str, topic: str, exit_when_idle: bool
) -> None:
    """A one-partition topic held by another member: ours owns nothing. Past the bound its health
    is `degraded` with the reason and the assigned-partitions gauge is 0; with --exit-when-idle
    it exits with the error instead of waiting forever."""
    bootstrap, group = broker.bootstrap_servers, f"g-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, changes(0, 5, HOUR_10, 1000), partitions=1)
    owns, holding = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=hold_every_partition, args=(bootstrap, group, topic, owns, holding)
    )
    holder.start()
    stop, health = threading.Event(), Health()
    settings = consumer_settings(bootstrap, bucket, topic, group, exit_when_idle=exit_when_idle)
    settings = replace(settings, unassigned_timeout=3.0)
    try:
        wait_for(owns.is_set, "the other member to own the partition")
        if exit_when_idle:
            with pytest.raises(PipelineError, match=r"owned no partition for \d+s.*gives up"):
                run_consumer(settings, health, stop)
            return
        worker = threading.Thread(target=run_consumer, args=(settings, health, stop))
        worker.start()
        try:
            until(lambda: "assignment" in reasons(health), worker)
            assert health.report()[1]["status"] == "degraded"
            assert "owned no partition" in reasons(health)
            assert metric("chinook_consumer_assigned_partitions") == 0
        finally:
            stop.set()
            worker.join(60)
        assert not worker.is_alive()
    finally:
        holding.set()
        holder.join(30)
