"""Apache Kafka in KRaft mode as child processes on loopback: one node, or a cluster of several.

Every node is broker and controller in one JVM (`process.roles=broker,controller`), on free
ports, with storage formatted fresh in its own folder. Children die with the process that started
them (PR_SET_PDEATHSIG, see `embedded.spawn`), so nothing is left behind even after a SIGKILL.

Listeners: PLAINTEXT always (brokers talk to each other over it); SSL, SASL_SSL and
SASL_PLAINTEXT where a `Security` is given, each on its own port. The group settings are the
embedded default's: no initial rebalance delay, and KIP-848 session and heartbeat bounds low
enough that a killed member's partitions move within seconds, as the classic protocol's do with
the consumer's 10 s session timeout.
"""

import base64
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chinook_pipeline.local.embedded import free_port, spawn, stop, wait_for_port
from chinook_pipeline.local.kafka.jars import LOG_CONFIG, ensure_jars, java
from chinook_pipeline.local.kafka.security import Security
from chinook_shared.errors import PipelineError

HEAP = "-Xmx512m"
JVM_OPTIONS_VARIABLE = "KAFKA_JVM_PERFORMANCE_OPTS"
"""The garbage collector and JIT flags, from the variable Kafka's own scripts read them from."""
DEFAULT_JVM_OPTIONS = "-XX:+UseG1GC"
START_TIMEOUT = 60.0


@dataclass
class Node:
    """One KRaft node: its id, its ports by listener name, its folder and its process."""

    node_id: int
    ports: dict[str, int]
    directory: Path
    properties: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False  # SIGSTOPped: running, but answering nothing

    @property
    def data_dir(self) -> Path:
        """`log.dirs`: the partitions' logs and the KRaft metadata log."""
        return self.directory / "data"

    @property
    def config_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log(self) -> Path:
        return self.directory / "kafka.log"

    def address(self, listener: str = "PLAINTEXT") -> str:
        return f"127.0.0.1:{self.ports[listener]}"

    def start(self) -> None:
        """Start (or restart, on the same ports and storage) without waiting for it."""
        if self.running:
            return
        argv = [
            java(),
            HEAP,
            f"-Xms{HEAP.removeprefix('-Xmx')}",
            *shlex.split(os.environ.get(JVM_OPTIONS_VARIABLE, DEFAULT_JVM_OPTIONS)),
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{ensure_jars()}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]
        self.process = spawn(argv, log=self.log)
        self.paused = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """A clean shutdown (SIGTERM), SIGKILL after `timeout`."""
        if self.process is not None:
            stop(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, no controlled shutdown."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    @property
    def answering(self) -> bool:
        """Running and not paused: a client may be sent to it."""
        return self.running and not self.paused


@dataclass
class Cluster:
    """A running KRaft cluster; `bootstrap_servers` (or `servers(listener)`) is what a client is given."""

    nodes: list[Node]
    cluster_id: str
    security: Security | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap_servers(self) -> str:
        return self.servers("PLAINTEXT")

    def servers(self, listener: str) -> str:
        """Every node's address on one listener, as `bootstrap.servers`."""
        return ",".join(node.address(listener) for node in self.nodes)

    def node(self, node_id: int) -> Node:
        return next(node for node in self.nodes if node.node_id == node_id)

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until every running node listens and the cluster's metadata lists them all."""
        running = [node for node in self.nodes if node.running]
        for node in running:
            assert node.process is not None
            wait_for_port(node.ports["PLAINTEXT"], node.process, _name(node), timeout)
        deadline = time.monotonic() + timeout
        while len(self.live_broker_ids()) < len(running):
            if time.monotonic() > deadline:
                self.stop()
                raise PipelineError(
                    f"the embedded Kafka cluster did not register {len(running)} broker(s) "
                    f"within {timeout:.0f}s: see {running[0].log}"
                )
            time.sleep(0.1)

    def live_broker_ids(self) -> set[int]:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        try:
            return set(admin.list_topics(timeout=2).brokers)
        except Exception:
            return set()

    def restart(self) -> None:
        """Stop every node cleanly and start them again on the same ports and storage."""
        self.stop()
        for node in self.nodes:
            node.start()
        self.wait_until_ready()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to every node at once (one by one, the last ones wait for a quorum that has
        gone), SIGKILL to any still running after `timeout`."""
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            node.stop(timeout)


def start_cluster(
    directory: Path,
    nodes: int = 1,
    security: Security | None = None,
    properties: Mapping[str, str] | None = None,
) -> Cluster:
    """Format storage for `nodes` KRaft nodes under `directory`, start them, wait until ready."""
    cluster_id = _cluster_id()
    listeners = ["PLAINTEXT", "CONTROLLER", *(security.listeners if security else ())]
    members = [
        Node(node_id, {name: free_port() for name in listeners}, directory / f"node-{node_id}", {})
        for node_id in range(1, nodes + 1)
    ]
    voters = ",".join(f"{m.node_id}@127.0.0.1:{m.ports['CONTROLLER']}" for m in members)
    shared_properties = {
        **_cluster_properties(nodes),
        **(security.broker_properties() if security else {}),
        **(properties or {}),
    }
    for member in members:
        shutil.rmtree(member.directory, ignore_errors=True)  # fresh storage every run
        member.directory.mkdir(parents=True)
        member.properties = {
            **_node_properties(member, voters),
            **shared_properties,
        }
        member.config_file.write_text(
            "".join(f"{key}={value}\n" for key, value in member.properties.items())
        )
    formats = [_format(member, cluster_id, security) for member in members]
    for member, formatting in zip(members, formats, strict=True):
        output, _ = formatting.communicate()
        if formatting.returncode != 0:
            raise PipelineError(
                f"formatting storage for Kafka node {member.node_id} failed: "
                f"{output.strip()[-500:]}"
            )
    cluster = Cluster(members, cluster_id, security, dict(properties or {}))
    for member in members:
        member.start()
    cluster.wait_until_ready()
    return cluster


def _node_properties(node: Node, voters: str) -> dict[str, str]:
    listeners = ",".join(f"{name}://127.0.0.1:{port}" for name, port in node.ports.items())
    advertised = ",".join(
        f"{name}://127.0.0.1:{port}" for name, port in node.ports.items() if name != "CONTROLLER"
    )
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": listeners,
        "advertised.listeners": advertised,
        "listener.security.protocol.map": ",".join(
            f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in node.ports
        ),
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(node.data_dir),
    }


def _cluster_properties(nodes: int) -> dict[str, str]:
    replicas = str(min(nodes, 3))
    in_sync = "2" if nodes >= 3 else "1"
    return {
        "num.partitions": "6",
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
        "group.initial.rebalance.delay.ms": "0",
        # Classic groups: the member's session.timeout.ms must be at least this (6 s by default);
        # the fault tests run members with 2 s sessions so that a killed one is noticed at once.
        "group.min.session.timeout.ms": "1000",
        # KIP-848 groups: the session is the broker's to set (45 s by default).
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.session.timeout.ms": "10000",
        "group.consumer.min.heartbeat.interval.ms": "1000",
        "group.consumer.heartbeat.interval.ms": "2000",
    }


def _format(node: Node, cluster_id: str, security: Security | None) -> subprocess.Popen[str]:
    """Start `kafka-storage format` for one node (the nodes are formatted in parallel)."""
    argv = [
        java(),
        f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        "-cp",
        f"{ensure_jars()}/*",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(node.config_file),
        *(security.format_arguments() if security else ()),
    ]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )


def _cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID, base64url without padding (22 characters),
    never starting with '-' (Kafka's own `Uuid.randomUuid` redraws those too)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def _name(node: Node) -> str:
    return f"Kafka node {node.node_id} (log: {node.log})"
