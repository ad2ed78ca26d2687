"""Names one part of the pipeline writes and another reads, each stated once.

They are part of the contract with the outside too: dashboards and alerts query the metric names,
readers of the bucket skip the journal directory, readers of the dead-letter topics look at the
headers. Renaming one breaks them (the tests pin the values).
"""

from typing import Final

# Producer metrics.
PRODUCER_ROWS_CAPTURED: Final = "chinook_producer_rows_captured_total"
PRODUCER_MESSAGES_PUBLISHED: Final = "chinook_producer_messages_published_total"
PRODUCER_DELIVERY_ERRORS: Final = "chinook_producer_delivery_errors_total"
PRODUCER_DELIVERY_LATENCY: Final = "chinook_producer_delivery_latency_seconds"
PRODUCER_SOURCE_LAG: Final = "chinook_producer_source_lag"
PRODUCER_DEAD_LETTERS: Final = "chinook_producer_dead_letters_total"
PRODUCER_HEALTHY: Final = "chinook_producer_healthy"

# Consumer metrics.
CONSUMER_RECORDS_CONSUMED: Final = "chinook_consumer_records_consumed_total"
CONSUMER_OBJECTS_UPLOADED: Final = "chinook_consumer_objects_uploaded_total"
CONSUMER_BYTES_UPLOADED: Final = "chinook_consumer_bytes_uploaded_total"
CONSUMER_UPLOAD_RETRIES: Final = "chinook_consumer_upload_retries_total"
CONSUMER_UPLOAD_FAILURES: Final = "chinook_consumer_upload_failures_total"
CONSUMER_OFFSETS_COMMITTED: Final = "chinook_consumer_offsets_committed_total"
CONSUMER_UPLOAD_DURATION: Final = "chinook_consumer_upload_duration_seconds"
CONSUMER_LAG: Final = "chinook_consumer_lag"
CONSUMER_BUFFERED_RECORDS: Final = "chinook_consumer_buffered_records"
CONSUMER_DECODE_ERRORS: Final = "chinook_consumer_decode_errors_total"
CONSUMER_DEAD_LETTERS: Final = "chinook_consumer_dead_letters_total"
CONSUMER_ASSIGNED_PARTITIONS: Final = "chinook_consumer_assigned_partitions"
CONSUMER_PERMANENT_ERRORS: Final = "chinook_consumer_permanent_errors_total"
CONSUMER_FAILING: Final = "chinook_consumer_failing"
CONSUMER_HEALTHY: Final = "chinook_consumer_healthy"
# A table consumer's Iceberg commits, by table (an object consumer has none).
CONSUMER_TABLE_COMMITS: Final = "chinook_consumer_table_commits_total"
CONSUMER_TABLE_ROWS: Final = "chinook_consumer_table_rows_committed_total"
CONSUMER_TABLE_COMMIT_DURATION: Final = "chinook_consumer_table_commit_duration_seconds"
CONSUMER_TABLE_COMMIT_FAILURES: Final = "chinook_consumer_table_commit_failures_total"
# The files a table's current snapshot reads, as of the consumer's last commit to it: delete files
# pile up one per flush of the state table until `iceberg maintain` merges them.
CONSUMER_TABLE_DATA_FILES: Final = "chinook_consumer_table_data_files"
CONSUMER_TABLE_DELETE_FILES: Final = "chinook_consumer_table_delete_files"

# The consumer's own directory under the bucket prefix (batch intents): not data.
JOURNAL_DIR: Final = "_chinook"

# Kafka headers: the source on every change event and dead letter; the rest on dead letters.
SOURCE_HEADER: Final = "chinook-source"
DLQ_STAGE_HEADER: Final = "chinook-dlq-stage"
DLQ_ERROR_HEADER: Final = "chinook-dlq-error"
DLQ_SEQUENCE_HEADER: Final = "chinook-dlq-sequence"
DLQ_TOPIC_HEADER: Final = "chinook-dlq-topic"
DLQ_PARTITION_HEADER: Final = "chinook-dlq-partition"
DLQ_OFFSET_HEADER: Final = "chinook-dlq-offset"
DLQ_KEY_HEADER: Final = "chinook-dlq-key"
