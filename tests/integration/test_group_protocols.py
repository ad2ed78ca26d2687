"""Both group protocols, classic (cooperative-sticky) and KIP-848 (`--group-protocol consumer`),
for objects and tables alike, while the database keeps changing: a second member joins and the
partitions are split (the first member's revocation), the second is killed -9 and the first takes
its partitions back (the dead member's session expires: 2 s of the tests' classic setting, the
broker's 10 s under KIP-848). Each ends exact with 0 duplicate events."""

import time
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from tests.conftest import Cli, wait_for
from tests.faults.processes import Service, start_writes
from tests.faults.scenario import SEED, all_alive, publishing, stop_ok
from tests.faults.sinks import assigned_partitions, both_sinks

pytestmark = pytest.mark.slow

SEEDED = 300
WRITES = 900
WRITE_SECONDS = 30.0
PARTITIONS = 6  # the embedded broker's num.partitions
REBALANCE_TIMEOUT = 120.0


def owns(service: Service, count: int) -> bool:
    all_alive(service)
    return assigned_partitions(service) == count


def split(*members: Service) -> bool:
    """Every member owns some of the partitions and together they own them all, once each."""
    owned = [assigned_partitions(member) for member in members]
    return all(owned) and sum(owned) == PARTITIONS


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_a_member_joins_then_dies_and_the_other_takes_its_partitions(
    protocol: str, cli: Cli, broker: kafka.Cluster, s3_client: object, topic: str, tmp_path: Path
) -> None:
    sinks = both_sinks(
        cli, broker.bootstrap_servers, topic, s3_client, tmp_path, SEEDED, (protocol, protocol)
    )
    try:
        producer = sinks.objects.start_producer()
        publishing(producer)
        firsts = [sinks.objects.start_consumer(), sinks.tables.start_consumer()]
        for first in firsts:
            wait_for(lambda f=first: owns(f, PARTITIONS), f"{first.name} to own every partition")
        writes, counts = start_writes(sinks.objects.db, WRITES, WRITES / WRITE_SECONDS, SEED + 50)
        joined = time.monotonic()
        seconds = [sinks.objects.start_consumer(), sinks.tables.start_consumer()]
        for first, second in zip(firsts, seconds, strict=True):
            wait_for(
                lambda f=first, s=second: split(f, s),
                f"{first.name} and {second.name} to split the partitions",
                REBALANCE_TIMEOUT,
            )
        rebalanced = time.monotonic() - joined
        for second in seconds:
            second.kill()
        killed = time.monotonic()
        for first in firsts:
            wait_for(
                lambda f=first: owns(f, PARTITIONS),
                f"{first.name} to take back every partition",
                REBALANCE_TIMEOUT,
            )
        took_over = time.monotonic() - killed
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        caught_up = sinks.arrive(producer, *firsts)
        all_alive(producer, *firsts)
        stop_ok(producer, *firsts)
        figures = (
            f"{protocol}: split {rebalanced:.1f}s after the second members started, partitions "
            f"back {took_over:.1f}s after their kill -9; exact "
            + ", ".join(f"{k} {v:.1f}s" for k, v in caught_up.items())
            + " after the last write"
        )
        print(figures)
        sinks.verify_ok(figures)
    finally:
        sinks.kill_all()
