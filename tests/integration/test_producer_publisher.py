"""Publisher bookkeeping that is batched for speed: the published counter stays exact."""

from pathlib import Path

from chinook_pipeline.local import kafka
from chinook_producer.metrics import DELIVERY_LATENCY, MESSAGES_PUBLISHED
from chinook_producer.publisher import LATENCY_SAMPLE
from tests.producer_runs import pending_changes, produce, read_topic
from tests.unit.test_producer_capture import make_db


def latency_count() -> float:
    return next(
        sample.value
        for sample in DELIVERY_LATENCY.collect()[0].samples
        if sample.name.endswith("_count")
    )


def test_every_acknowledgement_is_counted_and_latency_is_sampled(
    tmp_path: Path, broker: kafka.Cluster, topic: str
) -> None:
    rows = [
        (i, f"F{i}", f"L{i}", None, None, None, None, None, None, None, None, f"{i}@x", None)
        for i in range(1, 41)
    ]
    db = make_db(tmp_path / "chinook.db", rows)
    published_before, observed_before = MESSAGES_PUBLISHED._value.get(), latency_count()
    produce(db, broker, topic)
    assert len(read_topic(broker.bootstrap_servers, topic)) == len(rows)
    assert MESSAGES_PUBLISHED._value.get() - published_before == len(rows)
    assert latency_count() - observed_before == -(-len(rows) // LATENCY_SAMPLE)  # 1st, 17th, 33rd
    assert pending_changes(db) == 0
