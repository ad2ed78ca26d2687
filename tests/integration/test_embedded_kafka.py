"""The embedded Kafka node takes its JVM's collector and JIT flags from KAFKA_JVM_PERFORMANCE_OPTS,
as Kafka's own scripts do: the suite's nodes run with the lean ones `tests/conftest.py` sets."""

from pathlib import Path

from chinook_pipeline.local import kafka
from tests.conftest import LEAN_KAFKA_JVM


def test_the_node_runs_with_the_flags_of_kafka_jvm_performance_opts(broker: kafka.Cluster) -> None:
    process = broker.nodes[0].process
    assert process is not None
    argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")
    assert set(LEAN_KAFKA_JVM.split()) <= set(argv), argv
    assert "-XX:+UseG1GC" not in argv, "the default flags replaced, not added to"
