"""What the consumer reports in `/healthz` beyond the heartbeat: partitions whose jobs fail
(`troubles`), and a member that owns no partition for too long (`ownership`)."""
