"""Fault injection for the integration tests: an S3 fault proxy and helpers that kill, restart and
wait for `chinook-pipeline` processes."""
