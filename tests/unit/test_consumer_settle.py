"""Settling finished jobs (commit only what is durable), fault reporting in health and metrics,
and the bound on owning no partition: fakes for the broker, a fake clock, no S3."""

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from botocore.exceptions import ClientError
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from chinook_consumer.commits import OffsetCommits
from chinook_consumer.dead_letters import DeadLetter, DeadLetterError
from chinook_consumer.health.ownership import Ownership
from chinook_consumer.health.troubles import Troubles
from chinook_consumer.jobs import FindPosition, Flush, Job, Jobs
from chinook_consumer.objects import bucket
from chinook_consumer.objects.journal import Intent, resume_point
from chinook_consumer.partition import NOTHING, Partition, State
from chinook_consumer.positions import Position
from chinook_consumer.settings import ConsumerSettings, retry_policy
from chinook_consumer.settle import Settler
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.kafka import KafkaSettings
from chinook_shared.retry import RetryPolicy
from chinook_shared.s3 import S3Settings
from tests.unit.partition_steps import DENIED, FLUSHING, RESET, SLOW_DOWN, Clock, run, start


class Broker:
    """Stands in for the Kafka consumer (commits) and the dead-letter writer."""

    def __init__(self, refused: Mapping[int, str] = {}, commit_fails: bool = False) -> None:
        self.commits: list[list[tuple[int, int]]] = []
        self.refused, self.commit_fails = refused, commit_fails

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        assert not asynchronous
        self.commits.append([(tp.partition, tp.offset) for tp in offsets])
        if self.commit_fails:
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        return offsets

    def deliver(
        self, letters: Mapping[int, Sequence[DeadLetter]], timeout: float
    ) -> dict[int, Exception | None]:
        return {p: DeadLetterError(self.refused[p]) if p in self.refused else None for p in letters}


def settler(broker: Broker, health: Health, clock: Clock) -> Settler:
    return Settler(
        OffsetCommits(broker, "t"),  # type: ignore[arg-type]
        broker,  # type: ignore[arg-type]
        Troubles(health),
        clock=clock,
        where="bucket",
        component="s3",
    )


def outcome(job: Job, error: Exception | None = None, result: Position | None = None) -> Any:
    future: Future[Position | None] = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
    return job, future


def flushing() -> tuple[Partition, Clock, Flush]:
    partition, clock, _ = run(FLUSHING[:-1], lambda p, c: None)
    job = partition.tick().job
    assert isinstance(job, Flush) and partition.state is State.FLUSHING
    return partition, clock, job


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_in_s3_is_committed_at_its_end() -> None:
    partition, clock, job = flushing()
    broker, health = Broker(), Health()
    effects = settler(broker, health, clock).settle([outcome(job)], {0: partition})
    assert broker.commits == [[(0, 10)]]
    assert partition.state is State.FILLING and partition.committed == 10
    assert [(p, e) for p, e in effects] == [(partition, NOTHING)]
    assert health.report()[1]["status"] == "ok"


def test_unacknowledged_dead_letters_keep_the_batch_uncommitted() -> None:
    partition, clock, job = flushing()
    broker, health = Broker(refused={0: "no acknowledgement yet"}), Health()
    settler(broker, health, clock).settle([outcome(job)], {0: partition})
    assert broker.commits == []
    assert partition.state is State.BACKING_OFF and partition.committed == 0
    status, body = health.report()
    assert (status, body["status"]) == (200, "degraded")
    assert "dead-letters" in str(body["reasons"])


def test_a_failed_upload_commits_nothing_and_degrades_health_until_it_succeeds() -> None:
    partition, clock, job = flushing()
    broker, health = Broker(), Health()
    settle = settler(broker, health, clock)
    effects = settle.settle([outcome(job, SLOW_DOWN)], {0: partition})
    assert broker.commits == [] and partition.state is State.BACKING_OFF
    assert effects[0][1].pause
    assert health.report()[1]["status"] == "degraded"
    clock.now = partition.retry_at or 0.0
    retry = partition.tick().job
    assert retry is not None
    settle.settle([outcome(retry)], {0: partition})
    assert broker.commits == [[(0, 10)]] and health.report()[1]["status"] == "ok"


def test_a_permanent_fault_fails_health_counts_its_cause_and_recovers() -> None:
    partition, clock, job = flushing()
    broker, health = Broker(), Health()
    before = metric("chinook_consumer_permanent_errors_total", cause="AccessDenied")
    settle = settler(broker, health, clock)
    settle.settle([outcome(job, DENIED)], {0: partition})
    status, body = health.report()
    assert (status, body["status"]) == (503, "failing")
    assert "AccessDenied" in str(body["reasons"]) and "IAM policy" in str(body["reasons"])
    assert metric("chinook_consumer_permanent_errors_total", cause="AccessDenied") == before + 1
    assert metric("chinook_consumer_failing") == 1
    clock.now = partition.retry_at or 0.0
    settle.settle([outcome(partition.tick().job)], {0: partition})  # type: ignore[arg-type]
    assert health.report() == (200, {"status": "ok", "reasons": []})
    assert metric("chinook_consumer_failing") == 0 and broker.commits == [[(0, 10)]]


def test_giving_up_raises_with_nothing_committed() -> None:
    partition, clock, job = flushing()
    broker = Broker()
    settle = settler(broker, Health(), clock)
    settle.settle([outcome(job, DENIED)], {0: partition})
    clock.now += 100.0
    retry = partition.tick().job
    with pytest.raises(PipelineError, match="giving up"):
        settle.settle([outcome(retry, DENIED)], {0: partition})  # type: ignore[arg-type]
    assert broker.commits == []


def test_a_failed_commit_leaves_the_batch_durable_and_uncommitted() -> None:
    partition, clock, job = flushing()
    settler(Broker(commit_fails=True), Health(), clock).settle([outcome(job)], {0: partition})
    assert partition.state is State.FILLING and partition.committed == 0


def test_the_outcome_of_a_closed_or_forgotten_partition_is_not_committed() -> None:
    partition, clock, job = flushing()
    partition.close()
    broker = Broker()
    settle = settler(broker, Health(), clock)
    settle.settle([outcome(job)], {0: partition})
    settle.settle([outcome(Flush(1, job.batch))], {0: partition})
    assert broker.commits == []


def test_a_position_found_starts_the_partition_and_clears_an_earlier_failure() -> None:
    partition, clock, _ = run([start], lambda p, c: None)
    health = Health()
    settle = settler(Broker(), health, clock)
    settle.settle([outcome(FindPosition(0, 0), SLOW_DOWN)], {0: partition})
    assert "finding the position of t[0]" in str(health.report()[1]["reasons"])
    clock.now = partition.retry_at or 0.0
    assert partition.tick().job == FindPosition(0, 0)
    found = resume_point(0, Intent(0, 20))
    effects = settle.settle([outcome(FindPosition(0, 0), result=found)], {0: partition})
    assert partition.state is State.REBUILDING and effects[0][1].resume
    assert health.report() == (200, {"status": "ok", "reasons": []})


def test_owning_no_partition_past_the_bound_degrades_then_recovers() -> None:
    clock, health = Clock(), Health()
    ownership = Ownership(bound=60.0, clock=clock, health=health, what="member m")
    clock.now += 59.0
    ownership.update(0)
    assert health.report()[1]["status"] == "ok"
    clock.now += 1.0
    ownership.update(0)
    status, body = health.report()
    assert (status, body["status"]) == (200, "degraded")
    assert "member m has owned no partition for 60s" in str(body["reasons"])
    ownership.update(3)
    assert health.report()[1]["status"] == "ok"
    clock.now += 59.0
    ownership.update(0)  # owned nothing again from here: a new count
    clock.now += 59.0
    ownership.update(0)
    assert health.report()[1]["status"] == "ok"


def test_exit_when_idle_gives_up_when_no_partition_comes() -> None:
    clock = Clock()
    ownership = Ownership(
        bound=60.0, clock=clock, health=Health(), what="member m", exit_when_idle=True
    )
    clock.now += 30.0
    ownership.update(0)
    clock.now += 30.0
    with pytest.raises(PipelineError, match=r"owned no partition for 60s.*gives up"):
        ownership.update(0)


@pytest.mark.parametrize(("give_up_after", "probe"), [(600.0, 30.0), (5.0, 5.0), (0.0, 30.0)])
def test_the_probe_never_outlasts_the_give_up_window(give_up_after: float, probe: float) -> None:
    settings = ConsumerSettings(
        kafka=KafkaSettings("localhost:1"),
        s3=S3Settings(),
        bucket="chinook-data",
        give_up_after=give_up_after,
    )
    policy = retry_policy(settings)
    assert (policy.probe_interval, policy.give_up_after) == (probe, give_up_after)
    with pytest.raises(PipelineError, match="give-up-after"):
        ConsumerSettings(
            kafka=KafkaSettings("localhost:1"),
            s3=S3Settings(),
            bucket="chinook-data",
            give_up_after=-1,
        )


class SlowJournal:
    """Stands in for the journal: finding a position waits for `release`; the object writer
    fails partition 1."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def find(self, partition: int, committed: int | None) -> Position:
        self.release.wait(10)
        return Position(0, partition)

    def flush(self, partition: int, buffer: Any) -> None:
        if partition == 1:
            raise SLOW_DOWN


def test_jobs_run_one_per_partition_and_hand_back_their_outcome() -> None:
    journal = SlowJournal()
    jobs = Jobs(2, journal, journal)  # type: ignore[arg-type]
    _, _, flush = flushing()
    jobs.start(FindPosition(7, None))
    jobs.start(Flush(1, flush.batch))
    with pytest.raises(AssertionError):
        jobs.start(FindPosition(7, None))  # one job per partition at a time
    jobs.wait([1], 10)
    ((job, future),) = jobs.finished()
    assert job.partition == 1 and future.exception() is SLOW_DOWN
    assert jobs.busy and not jobs.finished()
    journal.release.set()
    jobs.wait([7], 10)
    ((job, future),) = jobs.finished()
    assert future.result() == Position(0, 7) and not jobs.busy
    jobs.close()


def test_closing_abandons_a_running_job_without_waiting() -> None:
    journal = SlowJournal()
    jobs = Jobs(1, journal, journal)  # type: ignore[arg-type]
    jobs.start(FindPosition(0, None))
    jobs.discard([0])  # a revoked partition's read: its outcome no longer matters
    started = time.monotonic()
    jobs.close()
    assert time.monotonic() - started < 5
    journal.release.set()


class Bucket:
    """Stands in for the S3 client's bucket check: answers with `outcomes` in turn."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.meta = type("Meta", (), {"endpoint_url": "http://s3"})()
        self._outcomes = list(outcomes)

    def head_bucket(self, Bucket: str) -> None:
        outcome = self._outcomes.pop(0)
        if outcome is not None:
            raise outcome


def test_the_bucket_check_at_start_retries_transient_faults_and_stops_on_permanent_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = RetryPolicy(base=0.001, cap=0.001, probe_interval=0.001)
    monkeypatch.setattr(bucket, "retry_policy", lambda settings: fast)
    settings = ConsumerSettings(
        kafka=KafkaSettings("localhost:1"), s3=S3Settings(), bucket="chinook-data"
    )
    health, stop = Health(), threading.Event()
    assert bucket.wait_for_bucket(Bucket(RESET, SLOW_DOWN, None), settings, health, stop)
    assert health.report()[1]["status"] == "ok"
    missing = ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")
    with pytest.raises(PipelineError, match=r"does not exist.*bucket setup"):
        bucket.wait_for_bucket(Bucket(RESET, missing), settings, health, stop)
    stop.set()
    assert not bucket.wait_for_bucket(Bucket(RESET, RESET), settings, Health(), stop)
