"""What the consumer needs before it joins its group: librdkafka settings, the retry policy and
the partitions' make-up, a usable bucket and an existing topic."""

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import KafkaException

from consumer.config import ConsumerConfig
from consumer.partition import Partition
from shared.errors import PipelineError
from shared.health import Health
from shared.kafka import admin_client
from shared.retry import Failures, RetryPolicy, StartWindow, report
from shared.s3 import bucket_problem

log = logging.getLogger("consumer.service")

KAFKA_TIMEOUT: Final = 30.0
TOPIC_POLL_INTERVAL: Final = 1.0
HELD_SESSIONS: Final = 6


def consumer_settings(config: ConsumerConfig) -> dict[str, Any]:
    """librdkafka configuration: defaults, then pass-through settings, then the ones correctness
    needs. A 10 s session timeout (Kafka's pre-3.0 default) matters on Tansu, which holds a
    JoinGroup for about half the session timeout: 45 s would mean a 23 s wait at every start.
    Under KIP-848 (`--group-protocol consumer`) the broker sets the session and heartbeat and
    assigns the partitions, and librdkafka refuses those settings; its assignments are
    incremental, as cooperative-sticky's are, so the rebalance callbacks are the same.

    Fetching: librdkafka backs a partition off for `fetch.queue.backoff.ms` (1 s by default)
    whenever its prefetch queue is over the thresholds, which a consumer that parses every record
    hits all the time on a backlog; 10 ms keeps it fetching (2.5x the rate on 200k records), and
    a broker that holds an empty fetch for the whole `fetch.wait.max.ms` costs 100 ms, not 500.
    """
    classic = config.group_protocol == "classic"
    session = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000} if classic else {}
    assignment = (
        {"partition.assignment.strategy": "cooperative-sticky"}
        if classic
        else {"group.protocol": "consumer"}
    )
    return {
        "client.id": "chinook-consumer",
        **session,
        "fetch.queue.backoff.ms": 10,
        "fetch.wait.max.ms": 100,
        **config.kafka.client_config(),
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        **assignment,
        "enable.partition.eof": True,
    }


def held_timeout(config: ConsumerConfig) -> float:
    """How long `--exit-when-idle` waits for partitions other members hold without progress:
    `--held-timeout`, or six session timeouts (a killed member's come back after one)."""
    if config.held_timeout is not None:
        return config.held_timeout
    return HELD_SESSIONS * int(consumer_settings(config)["session.timeout.ms"]) / 1000


def retry_policy(config: ConsumerConfig) -> RetryPolicy:
    """The policy of every S3 job. A permanent fault is probed at least once more right at the
    end of the give-up window, so the process exits about `give_up_after` seconds after it
    began (not up to a probe interval later)."""
    probe = RetryPolicy().probe_interval
    if config.give_up_after:
        probe = min(probe, config.give_up_after)
    return RetryPolicy(probe_interval=probe, give_up_after=config.give_up_after)


def partition_factory(
    config: ConsumerConfig, clock: Callable[[], float]
) -> Callable[[int, int | None], Partition]:
    """Makes the state machine of a newly assigned partition from its number and committed
    offset."""
    limits = config.flush_limits
    policy = retry_policy(config)

    def new(number: int, committed: int | None) -> Partition:
        return Partition(
            config.topic,
            number,
            committed,
            limits,
            config.layout,
            policy,
            clock,
            config.exit_when_idle,
        )

    return new


def wait_for_bucket(
    client: Any, config: ConsumerConfig, health: Health, stop: threading.Event
) -> bool:
    """Wait until the bucket answers; False when stopped first.

    A missing bucket, denied access or missing credentials end the start at once with the fix
    (nothing is held yet, and waiting cannot help); an unreachable or failing S3 (connection
    errors, 5xx, throttling) is retried with `degraded` health for up to `start_timeout`
    seconds, then ends the start too: an S3 that never answered is most often a wrong endpoint.
    Give `client` few attempts of its own, so that the window is kept to within one request.
    """
    failures = Failures(retry_policy(config))
    endpoint = client.meta.endpoint_url
    what = f"checking bucket {config.bucket} at {endpoint}"
    window = StartWindow(
        config.start_timeout,
        f"check that S3 is up and reachable at {endpoint}, or fix --s3-endpoint-url / "
        "AWS_ENDPOINT_URL_S3",
    )
    while True:
        health.beat()
        try:
            client.head_bucket(Bucket=config.bucket)
        except (ClientError, BotoCoreError) as error:
            problem = bucket_problem(client, config.bucket, error)
            if problem:
                raise PipelineError(problem) from None
            delay = failures.failed(error)
            window.check(what, failures)
            delay = window.cut(delay)
            report(health, "s3", what, failures, log, delay)
            if stop.wait(delay):
                return False
            continue
        if failures.attempts:
            health.recover("s3")
            log.info("bucket %s reachable after %d failures", config.bucket, failures.attempts)
        return True


def wait_for_topic(config: ConsumerConfig, health: Health, stop: threading.Event) -> bool:
    """Wait until the topic exists (the producer creates it); False when stopped first.

    Subscribing to a missing topic would leave librdkafka idle until its next periodic metadata
    refresh, minutes later. With `exit_when_idle` a missing topic is an error instead.
    """
    if _topic_exists(config):
        return True
    if config.exit_when_idle:
        raise PipelineError(
            f"topic {config.topic!r} does not exist at {config.kafka.bootstrap_servers}: "
            "run the producer first or fix --topic"
        )
    log.info("waiting for topic %s to be created (by the producer)", config.topic)
    health.degrade("topic", f"topic {config.topic} does not exist yet")
    while not stop.wait(TOPIC_POLL_INTERVAL):
        health.beat()
        if _topic_exists(config):
            health.recover("topic")
            return True
    return False


def _topic_exists(config: ConsumerConfig) -> bool:
    """Whether the topic exists, asked without naming it: a metadata request for one named topic
    makes some brokers (Tansu) create it."""
    try:
        metadata = admin_client(config.kafka).list_topics(timeout=KAFKA_TIMEOUT)
    except KafkaException as error:
        raise PipelineError(
            f"cannot list topics: {error.args[0].str()}: check the broker"
        ) from None
    return config.topic in metadata.topics
