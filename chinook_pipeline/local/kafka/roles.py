"""Who holds which role in a running embedded cluster: each partition's leader and replicas, and
the active controller. The failover tests kill or pause exactly the node holding a role.

Partition roles come from the brokers' metadata. The active controller does not: under KRaft a
broker's Metadata answer names a random live broker as "controller", and DescribeQuorum is a
Java-only admin call. The leader of the metadata quorum is the active controller, and every voter
writes the newest leader and epoch it knows to `quorum-state` in its metadata log folder.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, PartitionMetadata

from chinook_pipeline.local.kafka.cluster import Cluster
from chinook_shared.errors import PipelineError

QUORUM_STATE = Path("__cluster_metadata-0") / "quorum-state"
POLL = 0.1


@dataclass(frozen=True)
class Placement:
    """One partition's leader (-1 while it has none), replicas and in-sync replicas."""

    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


def placements(cluster: Cluster, topic: str, timeout: float = 10.0) -> dict[int, Placement]:
    """{partition: placement} of `topic`, asked of the nodes that answer ({} when it does not
    exist)."""
    found = _metadata(cluster, topic, timeout).topics.get(topic)
    if found is None or found.error is not None:
        return {}
    return {number: _placement(part) for number, part in found.partitions.items()}


def under_replicated(cluster: Cluster, timeout: float = 10.0) -> list[str]:
    """The partitions of every topic (internal ones too) whose in-sync replicas are fewer than
    their replicas, as `topic[partition]`: empty once a restarted node has caught up."""
    return [
        f"{name}[{number}]"
        for name, topic in _metadata(cluster, None, timeout).topics.items()
        for number, part in topic.partitions.items()
        if len(part.isrs) < len(part.replicas)
    ]


def leaders(cluster: Cluster, topic: str) -> dict[int, int]:
    """{partition: leader node id} of `topic` (-1 for a partition without a leader)."""
    return {number: place.leader for number, place in placements(cluster, topic).items()}


def active_controller(cluster: Cluster, timeout: float = 60.0) -> int:
    """The node id of the active controller: the quorum leader at the newest epoch any voter has
    written down. Waits (at most `timeout` seconds) while that epoch has no leader yet (an
    election under way) or its leader has died (no election yet: the voters wait out the fetch
    timeout first)."""
    deadline = time.monotonic() + timeout
    while True:
        known = [state for node in cluster.nodes if (state := _quorum_state(node.data_dir))]
        epoch = max((state.get("leaderEpoch", -1) for state in known), default=-1)
        elected = {
            state["leaderId"]
            for state in known
            if state.get("leaderEpoch") == epoch and state.get("leaderId", -1) >= 0
        }
        if elected:
            (leader,) = elected  # one leader per epoch: Raft's promise
            if cluster.node(leader).running:
                return int(leader)
        if time.monotonic() > deadline:
            raise PipelineError(
                f"no active controller known for epoch {epoch} within {timeout:.0f}s: "
                f"see {cluster.nodes[0].log}"
            )
        time.sleep(POLL)


def _metadata(cluster: Cluster, topic: str | None, timeout: float) -> ClusterMetadata:
    servers = ",".join(node.address() for node in cluster.nodes if node.answering)
    admin = AdminClient({"bootstrap.servers": servers, "allow.auto.create.topics": False})
    try:
        return admin.list_topics(topic, timeout=timeout)
    except KafkaException as error:
        raise PipelineError(f"cannot read the cluster's metadata: {error}") from None


def _placement(part: PartitionMetadata) -> Placement:
    return Placement(part.leader, tuple(part.replicas), tuple(part.isrs))


def _quorum_state(data_dir: Path) -> dict[str, int] | None:
    """A voter's `quorum-state` ({"leaderId", "leaderEpoch", ...}); None before its first
    election, or when read mid-write (it is replaced whole, so the next read is whole)."""
    try:
        return json.loads((data_dir / QUORUM_STATE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
