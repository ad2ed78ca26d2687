"""The embedded broker: Apache Kafka (KRaft) from Maven Central's jars, as child processes."""

from chinook_pipeline.local.kafka.cluster import Cluster, Node, start_cluster

__all__ = ["Cluster", "Node", "start_cluster"]
