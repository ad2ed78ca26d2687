"""Code both services use: configuration, Kafka and S3 clients, metrics, the change schema."""
