"""Fault injection on real parts, kills and bad input: `chinook-pipeline` processes killed with
SIGKILL, the producer's first start under writes, poison records, and group members dying and
joining. Every scenario ends with `chinook-pipeline verify` exiting 0: every change in S3, none
twice. The scenarios about the consumer run once per object format (S3 and broker outages:
test_outages.py).

Counts are small by default; CHINOOK_SOAK=1 runs the soak sizes (50,000 changes, more kills).
All waits are bounded polls for a condition; nothing asserts on speed.
"""

import random
import threading
import time

import pytest
from confluent_kafka import Producer

from chinook_consumer.poison import parse_change
from chinook_shared import names
from tests.conftest import wait_for
from tests.faults.audit import count_records, uncovered_commits
from tests.faults.processes import Pipeline, Service, kill_repeatedly, start_writes
from tests.faults.scenario import (
    BOTH_FORMATS,
    BUSY_WRITE_RATE,
    CONSUMER_MAX_LIFETIME,
    GARBAGE,
    KILL_WRITE_SECONDS,
    KILLS,
    PRODUCER_MAX_LIFETIME,
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


@BOTH_FORMATS
def test_consumer_killed_at_random_instants(pipeline: Pipeline) -> None:
    rng = random.Random(SEED)
    producer = pipeline.start_producer()
    publishing(producer)
    writes, counts = start_writes(pipeline.db, WRITES, WRITES / KILL_WRITE_SECONDS, SEED)
    killed = kill_repeatedly(
        pipeline.start_consumer,
        KILLS,
        rng,
        CONSUMER_MAX_LIFETIME,
        assigned,
        keep_going=writes.is_alive,
    )
    writes.join()
    assert counts.get("update") and counts.get("delete"), counts
    all_alive(producer)
    stop_ok(producer)
    pipeline.produce_all()
    pipeline.consume_all()
    consumed = [k.at_kill.get(names.CONSUMER_RECORDS_CONSUMED, 0) for k in killed]
    print(f"{len(killed)} consumer kills; records consumed by each killed incarnation: {consumed}")
    assert any(consumed), "no kill hit a consumer that had consumed records"
    pipeline.verify_ok()


def test_producer_killed_at_random_instants(pipeline: Pipeline) -> None:
    rng = random.Random(SEED + 1)
    consumer = pipeline.start_consumer()
    writing: list[tuple[threading.Thread, dict[str, int]]] = []

    def start_producer() -> Service:
        producer = pipeline.start_producer()
        if not writing:  # the first start is covered by test_producer_first_start_during_writes
            publishing(producer)
            writing.append(start_writes(pipeline.db, WRITES, WRITES / KILL_WRITE_SECONDS, SEED + 1))
        return producer

    killed = kill_repeatedly(
        start_producer,
        KILLS,
        rng,
        PRODUCER_MAX_LIFETIME,
        bool,
        keep_going=lambda: writing[0][0].is_alive(),
    )
    writes, counts = writing[0]
    writes.join()
    assert counts.get("update") and counts.get("delete"), counts
    pipeline.produce_all()
    all_alive(consumer)
    stop_ok(consumer)
    pipeline.consume_all()
    published = [k.at_kill.get(names.PRODUCER_MESSAGES_PUBLISHED, 0) for k in killed]
    print(
        f"{len(killed)} producer kills; messages published by each killed incarnation: {published}"
    )
    assert any(published), "no kill hit a producer that had published"
    pipeline.verify_ok()


def test_producer_first_start_during_writes(pipeline: Pipeline) -> None:
    """The application keeps writing while the producer starts for the first time on its database."""
    writes, counts = start_writes(pipeline.db, WRITES, BUSY_WRITE_RATE, SEED + 7)
    wait_for(lambda: sum(counts.values()), "the application's first writes")
    producer = pipeline.start_producer()
    publishing(producer)
    writes.join()
    all_alive(producer)
    stop_ok(producer)
    pipeline.produce_all()
    pipeline.consume_all()
    pipeline.verify_ok()


def garbage_payloads(rng: random.Random, count: int) -> list[bytes]:
    """Values no consumer can use: bad wire types, overlong varints, text, random bytes."""
    makers = [
        lambda: b"\x07" + rng.randbytes(rng.randint(0, 40)),
        lambda: b"\xff" * 11 + rng.randbytes(rng.randint(0, 40)),
        lambda: b'{"customer_id": %d, "op": "UPDATE"}' % rng.randint(1, 10_000),
        lambda: rng.randbytes(rng.randint(1, 200)),
    ]
    payloads: list[bytes] = []
    while len(payloads) < count:
        value = rng.choice(makers)()
        if parse_change(value)[0] is None:
            payloads.append(value)
    return payloads


@BOTH_FORMATS
def test_garbage_goes_to_the_dead_letter_topic(pipeline: Pipeline) -> None:
    pipeline.produce_all()  # creates the topic
    garbage = garbage_payloads(random.Random(SEED), GARBAGE)
    producer = pipeline.start_producer()
    writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 5)
    injector = Producer(
        {"bootstrap.servers": pipeline.bootstrap_servers, "enable.idempotence": True}
    )
    pace = WRITE_SECONDS / GARBAGE
    for number, value in enumerate(garbage):
        injector.produce(pipeline.topic, key=f"garbage-{number}".encode(), value=value)
        injector.poll(0)
        time.sleep(pace)
    assert injector.flush(60) == 0
    writes.join()
    all_alive(producer)
    stop_ok(producer)
    pipeline.produce_all()
    pipeline.consume_all()
    pipeline.verify_ok()
    assert count_records(pipeline.bootstrap_servers, f"{pipeline.topic}.dlq") == GARBAGE


@BOTH_FORMATS
def test_group_member_killed_and_one_added(pipeline: Pipeline, s3_client: object) -> None:
    producer = pipeline.start_producer()
    publishing(producer)
    first, second, third = (pipeline.start_consumer() for _ in range(3))
    writes, _ = start_writes(pipeline.db, WRITES, WRITES / WRITE_SECONDS, SEED + 6)
    wait_for(
        lambda: second.metrics().get(names.CONSUMER_OFFSETS_COMMITTED),
        "the second member's first commit",
    )
    second.kill()
    time.sleep(WRITE_SECONDS / 4)
    fourth = pipeline.start_consumer()
    writes.join()
    arrives(pipeline, producer, first, third, fourth)
    all_alive(producer, first, third, fourth)
    stop_ok(producer, first, third, fourth)
    assert not uncovered_commits(
        pipeline.bootstrap_servers, pipeline.group, pipeline.topic, s3_client, pipeline.bucket
    )
    pipeline.verify_ok()
