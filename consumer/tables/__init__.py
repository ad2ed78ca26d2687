"""Change events into Iceberg: a change table (every event a row) and a state table (one row per
live customer), committed exactly once with the Kafka positions in each snapshot's summary."""
