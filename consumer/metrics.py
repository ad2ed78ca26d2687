"""The consumer's Prometheus metrics (names are fixed: dashboards and `dev` read them)."""

from prometheus_client import Counter, Gauge, Histogram

RECORDS_CONSUMED = Counter(
    "chinook_consumer_records_consumed_total", "Kafka records received, rejected ones included"
)
OBJECTS_UPLOADED = Counter("chinook_consumer_objects_uploaded_total", "Data objects written to S3")
BYTES_UPLOADED = Counter(
    "chinook_consumer_bytes_uploaded_total", "Bytes of data objects written to S3"
)
UPLOAD_RETRIES = Counter(
    "chinook_consumer_upload_retries_total", "S3 request retries made by boto3 (all S3 calls)"
)
UPLOAD_FAILURES = Counter(
    "chinook_consumer_upload_failures_total", "Flushes that failed after boto3's retries"
)
OFFSETS_COMMITTED = Counter(
    "chinook_consumer_offsets_committed_total", "Sum of committed offset advances"
)
UPLOAD_DURATION = Histogram(
    "chinook_consumer_upload_duration_seconds",
    "Time to upload one data object, retries included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LAG = Gauge("chinook_consumer_lag", "High watermark minus consumer position", ["partition"])
BUFFERED_RECORDS = Gauge("chinook_consumer_buffered_records", "Records buffered, not yet in S3")
DECODE_ERRORS = Counter(
    "chinook_consumer_decode_errors_total", "Records rejected as not a valid CustomerChange"
)
DEAD_LETTERS = Counter(
    "chinook_consumer_dead_letters_total", "Rejected records sent to the dead-letter topic"
)
ASSIGNED_PARTITIONS = Gauge(
    "chinook_consumer_assigned_partitions", "Partitions of the topic this member owns"
)
PERMANENT_ERRORS = Counter(
    "chinook_consumer_permanent_errors_total",
    "S3 failures no retry can fix (access denied, missing bucket, bad credentials), by cause",
    ["cause"],
)
FAILING = Gauge(
    "chinook_consumer_failing", "1 while a permanent fault stops batches from reaching S3, else 0"
)
