"""The consumer's Prometheus metrics (names are fixed: dashboards and `dev` read them)."""

from prometheus_client import Counter, Gauge, Histogram

from chinook_shared.names import (
    CONSUMER_ASSIGNED_PARTITIONS,
    CONSUMER_BUFFERED_RECORDS,
    CONSUMER_BYTES_UPLOADED,
    CONSUMER_DEAD_LETTERS,
    CONSUMER_DECODE_ERRORS,
    CONSUMER_FAILING,
    CONSUMER_LAG,
    CONSUMER_OBJECTS_UPLOADED,
    CONSUMER_OFFSETS_COMMITTED,
    CONSUMER_PERMANENT_ERRORS,
    CONSUMER_RECORDS_CONSUMED,
    CONSUMER_TABLE_COMMIT_DURATION,
    CONSUMER_TABLE_COMMIT_FAILURES,
    CONSUMER_TABLE_COMMITS,
    CONSUMER_TABLE_DATA_FILES,
    CONSUMER_TABLE_DELETE_FILES,
    CONSUMER_TABLE_ROWS,
    CONSUMER_UPLOAD_DURATION,
    CONSUMER_UPLOAD_FAILURES,
    CONSUMER_UPLOAD_RETRIES,
)

RECORDS_CONSUMED = Counter(
    CONSUMER_RECORDS_CONSUMED, "Kafka records received, rejected ones included"
)
OBJECTS_UPLOADED = Counter(CONSUMER_OBJECTS_UPLOADED, "Data objects written to S3")
BYTES_UPLOADED = Counter(CONSUMER_BYTES_UPLOADED, "Bytes of data objects written to S3")
UPLOAD_RETRIES = Counter(CONSUMER_UPLOAD_RETRIES, "S3 request retries made by boto3 (all S3 calls)")
UPLOAD_FAILURES = Counter(
    CONSUMER_UPLOAD_FAILURES, "Flushes that failed after the S3 client's request retries"
)
OFFSETS_COMMITTED = Counter(CONSUMER_OFFSETS_COMMITTED, "Sum of committed offset advances")
UPLOAD_DURATION = Histogram(
    CONSUMER_UPLOAD_DURATION,
    "Time to upload one data object, retries included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LAG = Gauge(CONSUMER_LAG, "High watermark minus consumer position", ["partition"])
BUFFERED_RECORDS = Gauge(CONSUMER_BUFFERED_RECORDS, "Records buffered, not yet in S3")
DECODE_ERRORS = Counter(CONSUMER_DECODE_ERRORS, "Records rejected as not a valid CustomerChange")
DEAD_LETTERS = Counter(CONSUMER_DEAD_LETTERS, "Rejected records sent to the dead-letter topic")
ASSIGNED_PARTITIONS = Gauge(
    CONSUMER_ASSIGNED_PARTITIONS, "Partitions of the topic this member owns"
)
PERMANENT_ERRORS = Counter(
    CONSUMER_PERMANENT_ERRORS,
    "S3 failures no retry can fix (access denied, missing bucket, bad credentials), by cause",
    ["cause"],
)
FAILING = Gauge(
    CONSUMER_FAILING, "1 while a permanent fault stops batches from reaching S3, else 0"
)

# A table consumer's commits, by table: its flushes land here, not in the object counters above.
TABLE_COMMITS = Counter(
    CONSUMER_TABLE_COMMITS, "Iceberg commits (snapshots) written, by table", ["table"]
)
TABLE_ROWS = Counter(
    CONSUMER_TABLE_ROWS,
    "Change rows committed (appended, or upserted into the state table), by table",
    ["table"],
)
TABLE_COMMIT_DURATION = Histogram(
    CONSUMER_TABLE_COMMIT_DURATION,
    "Time to commit one flush to a table, conflict retries included, by table",
    ["table"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TABLE_COMMIT_FAILURES = Counter(
    CONSUMER_TABLE_COMMIT_FAILURES,
    "Commits to a table that raised (conflicts past every attempt, catalog or S3 errors)",
    ["table"],
)
TABLE_DATA_FILES = Gauge(
    CONSUMER_TABLE_DATA_FILES,
    "Data files in the table's current snapshot, as of this consumer's last commit, by table",
    ["table"],
)
TABLE_DELETE_FILES = Gauge(
    CONSUMER_TABLE_DELETE_FILES,
    "Position-delete files in the table's current snapshot (one per state-table flush until "
    "`iceberg maintain` merges them), as of this consumer's last commit, by table",
    ["table"],
)
