"""At start, before the consumer subscribes: wait until the topic exists."""

import logging
import threading
from typing import Final

from confluent_kafka import KafkaException

from chinook_consumer.librdkafka import KAFKA_TIMEOUT
from chinook_consumer.settings import ConsumerSettings
from chinook_shared.errors import PipelineError
from chinook_shared.health import Health
from chinook_shared.kafka import admin_client

log = logging.getLogger(__name__)

TOPIC_POLL_INTERVAL: Final = 1.0


def wait_for_topic(settings: ConsumerSettings, health: Health, stop: threading.Event) -> bool:
    """Wait until the topic exists (the producer creates it); False when stopped first.

    Subscribing to a missing topic would leave librdkafka idle until its next periodic metadata
    refresh, minutes later. With `exit_when_idle` a missing topic is an error instead.
    """
    if _topic_exists(settings):
        return True
    if settings.exit_when_idle:
        raise PipelineError(
            f"topic {settings.topic!r} does not exist at {settings.kafka.bootstrap_servers}: "
            "run the producer first or fix --topic"
        )
    log.info("waiting for topic %s to be created (by the producer)", settings.topic)
    health.degrade("topic", f"topic {settings.topic} does not exist yet")
    while not stop.wait(TOPIC_POLL_INTERVAL):
        health.beat()
        if _topic_exists(settings):
            health.recover("topic")
            return True
    return False


def _topic_exists(settings: ConsumerSettings) -> bool:
    """Whether the topic exists, asked without naming it: a metadata request for one named topic
    makes some brokers (Tansu) create it."""
    try:
        metadata = admin_client(settings.kafka).list_topics(timeout=KAFKA_TIMEOUT)
    except KafkaException as error:
        raise PipelineError(
            f"cannot list topics: {error.args[0].str()}: check the broker"
        ) from None
    return settings.topic in metadata.topics
