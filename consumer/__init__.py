"""The consumer service: a Kafka topic of customer changes into date-partitioned S3 objects."""
