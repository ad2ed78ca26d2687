"""The `chinook-pipeline` command line: ties the producer, the consumer and the tools together."""
