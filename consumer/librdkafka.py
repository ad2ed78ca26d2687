"""The consumer's librdkafka client: its configuration properties, and how long a request to
the broker may take."""

from typing import Any, Final

from chinook_consumer.settings import ConsumerSettings

KAFKA_TIMEOUT: Final = 30.0


def librdkafka_properties(settings: ConsumerSettings) -> dict[str, Any]:
    """librdkafka's configuration properties: defaults, then pass-through settings, then the
    ones correctness needs. A 10 s session timeout (Kafka's pre-3.0 default) matters on Tansu, which holds a
    JoinGroup for about half the session timeout: 45 s would mean a 23 s wait at every start.
    Under KIP-848 (`--group-protocol consumer`) the broker sets the session and heartbeat and
    assigns the partitions, and librdkafka refuses those settings; its assignments are
    incremental, as cooperative-sticky's are, so the rebalance callbacks are the same.

    Fetching: librdkafka backs a partition off for `fetch.queue.backoff.ms` (1 s by default)
    whenever its prefetch queue is over the thresholds, which a consumer that parses every record
    hits all the time on a backlog; 10 ms keeps it fetching (2.5x the rate on 200k records), and
    a broker that holds an empty fetch for the whole `fetch.wait.max.ms` costs 100 ms, not 500.
    """
    classic = settings.group_protocol == "classic"
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
        **settings.kafka.client_properties(),
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        **assignment,
        "enable.partition.eof": True,
    }
