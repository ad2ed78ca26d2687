"""The producer's Prometheus metrics (names are fixed: dashboards and the dev status line use them)."""

from prometheus_client import Counter, Gauge, Histogram

from chinook_shared.names import (
    PRODUCER_DEAD_LETTERS,
    PRODUCER_DELIVERY_ERRORS,
    PRODUCER_DELIVERY_LATENCY,
    PRODUCER_MESSAGES_PUBLISHED,
    PRODUCER_ROWS_CAPTURED,
    PRODUCER_SOURCE_LAG,
)

ROWS_CAPTURED = Counter(PRODUCER_ROWS_CAPTURED, "Change rows read from the capture table.")
MESSAGES_PUBLISHED = Counter(PRODUCER_MESSAGES_PUBLISHED, "Changes acknowledged by the broker.")
DELIVERY_ERRORS = Counter(PRODUCER_DELIVERY_ERRORS, "Messages the Kafka client gave up delivering.")
DELIVERY_LATENCY = Histogram(
    PRODUCER_DELIVERY_LATENCY,
    "Time from handing a message to the Kafka client to its acknowledgement (one message in 16 is observed).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SOURCE_LAG = Gauge(PRODUCER_SOURCE_LAG, "Captured changes not yet acknowledged by the broker.")
DEAD_LETTERS = Counter(
    PRODUCER_DEAD_LETTERS,
    "Change rows that could not be published as CustomerChange and went to the dead-letter topic.",
)
