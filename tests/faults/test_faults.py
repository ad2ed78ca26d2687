"""Fault injection on real parts: `chinook-pipeline` processes killed with SIGKILL, S3 behind a
fault proxy (errors, resets, delays, an outage), a broker restart, poison records, and group
members dying and joining. Every scenario ends with `chinook-pipeline verify` exiting 0: every
change in S3, none twice. The scenarios about the consumer run once per object format.

Counts are small by default; CHINOOK_SOAK=1 runs the soak sizes (50,000 changes, more kills).
All waits are bounded polls for a condition; nothing asserts on speed.
"""

import os
import random
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from chinook_consumer.poison import parse_change
from chinook_pipeline.local import embedded, kafka
from chinook_shared import names
from tests.conftest import Cli, wait_for
from tests.faults.audit import count_records, uncovered_commits
from tests.faults.processes import Pipeline, Service, kill_repeatedly, start_writes
from tests.faults.s3_proxy import S3FaultProxy

pytestmark = pytest.mark.slow

SOAK = os.environ.get("CHINOOK_SOAK") == "1"
CHANGES = 50_000 if SOAK else 5_000  # per scenario: seeded customers plus random changes
SEEDED = CHANGES * 2 // 5
WRITES = CHANGES - SEEDED  # inserts, updates and deletes applied while the services run
KILLS = 20 if SOAK else 10  # kill -9s of the service under test, at least
KILL_WRITE_SECONDS = 200.0 if SOAK else 25.0  # the writes of a kill scenario are spread over this
WRITE_SECONDS = 120.0 if SOAK else 10.0  # ... and of the other scenarios over this
BUSY_WRITE_RATE = 2_000.0  # changes per second of an application keeping its database busy
CONSUMER_MAX_LIFETIME = 4.0  # an incarnation dies uniformly within this many seconds of working
PRODUCER_MAX_LIFETIME = 3.0
OUTAGE_SECONDS = 20.0 if SOAK else 5.0
GARBAGE = 1_000
SEED = int(os.environ.get("CHINOOK_FAULT_SEED", "20261125"))
DRAIN_TIMEOUT = 900.0 if SOAK else 180.0  # bound on waiting for the pipeline to catch up
SMALL_BATCHES = ("--flush-records", "200", "--flush-age", "0.3")
BOTH_FORMATS = pytest.mark.parametrize("object_format", ["protobuf", "parquet"])


def stop_ok(*services: Service) -> None:
    """SIGTERM each service and require the graceful exit 0."""
    for service in services:
        code = service.stop()
        assert code == 0, f"{service.name} exited {code}:\n{service.output()[-4000:]}"


def arrives(pipeline: Pipeline, *services: Service) -> str:
    """Wait (bounded) until verify passes while the services run; its summary. On timeout the
    message carries the last verify summary and the running services' counters."""
    last: list[str] = []

    def passes() -> str | None:
        result = pipeline.verify()
        last[:] = [result.stdout + result.stderr]
        return result.stdout if result.returncode == 0 else None

    try:
        return wait_for(
            passes, "every change to reach S3 exactly once", DRAIN_TIMEOUT, interval=1.0
        )
    except AssertionError as error:
        counters = {
            service.name: {
                k: v
                for k, v in service.metrics().items()
                if k.endswith("_total") or k.endswith("lag")
            }
            for service in services
        }
        raise AssertionError(f"{error}\nlast verify: {last}\ncounters: {counters}") from None


def publishing(producer: Service) -> None:
    """Wait until the producer has published (its first start has set the database up)."""
    wait_for(
        lambda: producer.metrics().get(names.PRODUCER_MESSAGES_PUBLISHED) or not producer.running(),
        f"{producer.name} to publish",
    )
    all_alive(producer)


def assigned(metrics: dict[str, float]) -> bool:
    """The consumer owns partitions and has fetched from them (its lag gauge has samples)."""
    return names.CONSUMER_LAG in metrics


def all_alive(*services: Service) -> None:
    for service in services:
        assert service.running(), (
            f"{service.name} exited {service.process.returncode}:\n{service.output()[-4000:]}"
        )


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
