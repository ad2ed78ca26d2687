"""Broker failover on a three-node KRaft cluster (replication factor 3, `min.insync.replicas=2`,
the producer on `acks=all` with idempotence) while the database keeps changing, one producer
publishes and two consumers per destination (objects, tables) consume:

- kill -9 of a node leading partitions of the topic, then its restart;
- SIGSTOP of such a node for longer than its broker session, then SIGCONT;
- kill -9 of the active controller, then its restart.

Each ends with `verify` and `iceberg verify` exact, 0 duplicate events. The producer's stall is
seen from the topic (`topic_watch.py`) and printed with the failover's own times (run with -s);
that every partition takes writes again after the fault is a bounded wait. Each fault runs the
two groups on different protocols (classic, KIP-848), swapped for the paused broker.
"""

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_pipeline.local.kafka import roles
from tests.conftest import Cli, wait_for
from tests.faults.processes import start_writes
from tests.faults.scenario import SEED, all_alive, publishing, stop_ok
from tests.faults.sinks import both_sinks, owning
from tests.faults.topic_watch import TopicWatch

pytestmark = pytest.mark.slow

NODES = 3
BROKER_SESSION = 9.0  # broker.session.timeout.ms (Kafka's default, set explicitly below)
SEEDED = 300
WRITE_SECONDS = 30.0  # the writes span the fault, the failover and most of the restart
WRITES = 1_200
BEFORE_FAULT = 3.0  # seconds of normal running the watch sees first
STALL_BOUND = 90.0  # every partition takes writes again within this many seconds of the fault
RECOVERY_TIMEOUT = 120.0  # bound on leaders moving, elections and a restarted node catching up


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.Cluster]:
    started = kafka.start_cluster(
        tmp_path_factory.mktemp("kafka-3"),
        nodes=NODES,
        properties={"broker.session.timeout.ms": str(int(BROKER_SESSION * 1000))},
    )
    yield started
    started.stop()


@pytest.fixture()
def healthy(cluster: kafka.Cluster) -> Iterator[kafka.Cluster]:
    """The cluster with every node answering and every replica in sync, before and after a test
    (one that failed midway leaves no node down for the next)."""
    restore(cluster)
    yield cluster
    restore(cluster)


def restore(cluster: kafka.Cluster) -> float:
    """Resume paused nodes, start dead ones, wait until every replica is in sync; seconds taken."""
    started = time.monotonic()
    for node in cluster.nodes:
        if node.paused:
            node.resume()
        node.start()  # a no-op for a running node
    cluster.wait_until_ready()
    wait_for(lambda: not roles.under_replicated(cluster), "every replica in sync", RECOVERY_TIMEOUT)
    return time.monotonic() - started


def busiest_follower_of_the_controller(cluster: kafka.Cluster, topic: str) -> kafka.Node:
    """The node leading the most partitions of `topic` that is not the active controller, so a
    partition-leader fault is not also a controller fault."""
    controller = roles.active_controller(cluster)
    led = Counter(roles.leaders(cluster, topic).values())
    candidates = [node for node in cluster.nodes if node.node_id != controller]
    return max(candidates, key=lambda node: led[node.node_id])


def leads_nothing(cluster: kafka.Cluster, topic: str, node: kafka.Node) -> bool:
    return node.node_id not in roles.leaders(cluster, topic).values()


# Each fault returns its figures once the cluster has failed over; `restore` then ends it.


def kill_leader(cluster: kafka.Cluster, topic: str) -> dict[str, float]:
    victim = busiest_follower_of_the_controller(cluster, topic)
    victim.kill()
    start = time.monotonic()
    wait_for(lambda: leads_nothing(cluster, topic, victim), "new leaders", RECOVERY_TIMEOUT)
    moved = time.monotonic() - start
    return {"node": victim.node_id, "leaders moved": moved}


def pause_leader(cluster: kafka.Cluster, topic: str) -> dict[str, float]:
    victim = busiest_follower_of_the_controller(cluster, topic)
    victim.pause()
    start = time.monotonic()
    wait_for(lambda: leads_nothing(cluster, topic, victim), "new leaders", RECOVERY_TIMEOUT)
    moved = time.monotonic() - start
    wait_for(
        lambda: all(
            victim.node_id not in p.in_sync for p in roles.placements(cluster, topic).values()
        ),
        "the paused node to leave every ISR",
        RECOVERY_TIMEOUT,
    )
    fenced = time.monotonic() - start
    time.sleep(max(0.0, start + BROKER_SESSION + 2 - time.monotonic()))
    paused = time.monotonic() - start
    return {
        "node": victim.node_id,
        "leaders moved": moved,
        "out of the ISRs": fenced,
        "paused for": paused,
    }


def kill_controller(cluster: kafka.Cluster, topic: str) -> dict[str, float]:
    victim = cluster.node(roles.active_controller(cluster))
    victim.kill()
    start = time.monotonic()
    elected = roles.active_controller(cluster, RECOVERY_TIMEOUT)
    took = time.monotonic() - start
    wait_for(lambda: leads_nothing(cluster, topic, victim), "new leaders", RECOVERY_TIMEOUT)
    moved = time.monotonic() - start
    return {
        "node": victim.node_id,
        "new controller": elected,
        "elected": took,
        "leaders moved": moved,
    }


FAULTS = {
    "leader-killed": (kill_leader, ("classic", "consumer")),
    "broker-paused": (pause_leader, ("consumer", "classic")),
    "controller-killed": (kill_controller, ("classic", "consumer")),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_broker_fault_mid_run_ends_exact(
    fault: str, healthy: kafka.Cluster, cli: Cli, s3_client: object, topic: str, tmp_path: Path
) -> None:
    inject, protocols = FAULTS[fault]
    sinks = both_sinks(
        cli, healthy.bootstrap_servers, topic, s3_client, tmp_path, SEEDED, protocols
    )
    try:
        producer = sinks.objects.start_producer()
        publishing(producer)
        replicas = {len(p.replicas) for p in roles.placements(healthy, topic).values()}
        assert replicas == {NODES}, f"the producer's topic has replication factors {replicas}"
        consumers = sinks.start_consumers(2)
        owning(*consumers)
        writes, counts = start_writes(sinks.objects.db, WRITES, WRITES / WRITE_SECONDS, SEED + 40)
        watch = TopicWatch(healthy.bootstrap_servers, topic).start()
        time.sleep(BEFORE_FAULT)
        at = time.time()
        failover = inject(healthy, topic)
        try:
            bound = at + STALL_BOUND - time.time()  # counted from the fault
            wait_for(lambda: watch.resumed(at), "every partition to take writes again", bound)
        except AssertionError as error:
            raise AssertionError(f"{error}: {watch.stall.describe(at)}; {failover}") from None
        failover["back in sync"] = restore(healthy)  # restarted (resumed), every replica in sync
        writes.join()
        assert counts.get("update") and counts.get("delete"), counts
        stall = watch.stop()
        caught_up = sinks.arrive(producer, *consumers)
        all_alive(producer, *consumers)
        stop_ok(producer, *consumers)
        figures = (
            f"{fault} ({'/'.join(protocols)} groups): {stall.describe(at)}; failover "
            + ", ".join(
                f"{k} {v:.1f}s" if isinstance(v, float) else f"{k} {v}" for k, v in failover.items()
            )
            + "; both destinations exact "
            + ", ".join(f"{k} {v:.1f}s" for k, v in caught_up.items())
            + " after the last write"
        )
        print(figures)
        sinks.verify_ok(figures)
    finally:
        sinks.kill_all()
