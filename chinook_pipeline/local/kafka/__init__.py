"""The embedded broker: Apache Kafka (KRaft) from Maven Central's jars, as child processes."""

from chinook_pipeline.local.kafka.cluster import JVM_OPTIONS_VARIABLE, Cluster, Node, start_cluster

__all__ = ["JVM_OPTIONS_VARIABLE", "Cluster", "Node", "start_cluster"]
