"""The consumer service: a Kafka topic of customer changes into S3 objects or Iceberg tables.

The service (`service.py`: the poll loop and the rebalance) drives one state machine per
assigned partition (`partition.py`), whose records wait in a buffer (`buffer.py`, filled by
`intake.py`, poison set aside by `poison.py` and `dead_letters.py`). Its two jobs, finding where
it resumes (`positions.py`) and flushing a batch, run on one executor (`jobs.py`) against the
sink chosen at start (`destination.py`), each in a room of its own:

- `objects/`: the objects sink (writer, journal, uploader, keys, formats, the bucket check);
- `tables/`: the tables sink (the change and state tables, their commits and upserts).

Finished jobs are settled (`settle.py`) and durable batches committed (`commits.py`); fetching
is paused, resumed and sought by `fetching.py`; `--exit-when-idle` ends once the topic is
durable (`completion.py`). At start: `settings.py` (the options), `librdkafka.py` (the client's
properties) and `topic.py` (the topic wait). Reporting: `metrics/` (Prometheus, the gauges) and
`health/` (failing jobs, a member without partitions).
"""
