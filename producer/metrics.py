"""The producer's Prometheus metrics (names are fixed: dashboards and the dev status line use them)."""

from prometheus_client import Counter, Gauge, Histogram

ROWS_CAPTURED = Counter(
    "chinook_producer_rows_captured_total", "Change rows read from the capture table."
)
MESSAGES_PUBLISHED = Counter(
    "chinook_producer_messages_published_total", "Changes acknowledged by the broker."
)
DELIVERY_ERRORS = Counter(
    "chinook_producer_delivery_errors_total", "Messages the Kafka client gave up delivering."
)
DELIVERY_LATENCY = Histogram(
    "chinook_producer_delivery_latency_seconds",
    "Time from handing a message to the Kafka client to its acknowledgement (one message in 16 is observed).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SOURCE_LAG = Gauge(
    "chinook_producer_source_lag", "Captured changes not yet acknowledged by the broker."
)
DEAD_LETTERS = Counter(
    "chinook_producer_dead_letters_total",
    "Change rows that could not be published as CustomerChange and went to the dead-letter topic.",
)
