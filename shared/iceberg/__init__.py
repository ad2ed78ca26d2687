"""Iceberg helpers both the consumer and the tools use: the catalog and the Kafka positions."""
