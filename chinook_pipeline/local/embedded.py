"""Child processes of the embedded default, and its S3 server (moto); the broker is in `kafka/`.

Servers bind to free loopback ports. Children get PR_SET_PDEATHSIG so that they die with the process
that started them, even when it is killed with SIGKILL: nothing is ever left behind.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chinook_shared.errors import PipelineError

LOCAL_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "chinook-local",
    "AWS_SECRET_ACCESS_KEY": "chinook-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    new_session: bool = True,
) -> subprocess.Popen[bytes]:
    """Start a child that dies with this process; output goes to `log` (or is discarded)."""
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (child owns it)
    try:
        return subprocess.Popen(
            list(argv),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=new_session,
        )
    finally:
        if log:
            output.close()  # type: ignore[union-attr]


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Until `port` on loopback accepts a connection; stops the process and raises on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PipelineError(f"{what} exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise PipelineError(f"{what} did not listen on port {port} within {timeout:.0f}s")


@dataclass
class S3Server:
    """A moto S3 server on loopback. `env` holds what a client needs to reach it."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL_S3": self.endpoint_url}

    def stop(self) -> None:
        stop(self.process)


def start_s3(port: int | None = None, log: Path | None = None) -> S3Server:
    # The one installed with this interpreter first: a moto_server found on PATH may be another
    # environment's, of a version the project does not pin.
    beside = Path(sys.executable).parent / "moto_server"
    executable = str(beside) if beside.exists() else shutil.which("moto_server") or str(beside)
    if not Path(executable).exists():
        raise PipelineError(
            "moto_server not found: install the extra with `pip install -e '.[embedded]'`"
        )
    port = port or free_port()
    process = spawn([executable, "-H", "127.0.0.1", "-p", str(port)], log=log)
    wait_for_port(port, process, "the moto S3 server", 30)
    return S3Server(port, process)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
