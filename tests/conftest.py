"""Fixtures on real parts: an Apache Kafka broker and a moto S3 server as child processes.

The servers are shared by the whole session; every test gets its own topic, group and bucket,
so tests never see each other's data.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_shared.s3 import S3Settings, make_client

REAL_CHINOOK = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "chinook" / "Chinook_Sqlite.sqlite"
)
CLI = [sys.executable, "-m", "chinook_pipeline"]
T = TypeVar("T")


LEAN_KAFKA_JVM: Final = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
"""The JVM flags of every Kafka node the tests start (theirs, and those of `dev` and `bench` they
run): the serial collector and the C1 compiler only. Measured on one node: 2.2 s of CPU to be
ready instead of 4.8, and 3.0 s instead of 5.2 a minute serving a light load. The brokers were
the suite's largest CPU user (400 of 1,400 s); users' nodes keep G1 and the full JIT."""


def pytest_configure() -> None:
    os.environ.setdefault(kafka.JVM_OPTIONS_VARIABLE, LEAN_KAFKA_JVM)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow test files first: `make test` hands whole files to its workers in this order, so
    the long ones start early and the short ones fill in at the end (stable: files and tests
    keep their order otherwise)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def new_bucket() -> str:
    """A new bucket on the S3 endpoint the environment names, for a module's own data."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    make_client(S3Settings()).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.S3Server]:
    server = embedded.start_s3(log=tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.Cluster]:
    server = kafka.start_cluster(tmp_path_factory.mktemp("kafka"))
    yield server
    server.stop()


@pytest.fixture()
def s3_env(s3_server: embedded.S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS environment for the local S3 server, also applied to this test process."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server.env


@pytest.fixture()
def s3_client(s3_env: dict[str, str]) -> object:
    return make_client(S3Settings())


@pytest.fixture()
def bucket(s3_client: object) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture()
def topic() -> str:
    return f"chinook.customers.{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def real_chinook(tmp_path: Path) -> Path:
    """A writable copy of the real Chinook database; skipped where ../shared/data is absent."""
    if not REAL_CHINOOK.exists():
        pytest.skip(f"real Chinook database not present at {REAL_CHINOOK}")
    copy = tmp_path / "chinook.db"
    shutil.copyfile(REAL_CHINOOK, copy)
    return copy


@dataclass
class Cli:
    """Runs `chinook-pipeline` as a user would: a separate process with its own environment."""

    env: dict[str, str]
    cwd: Path

    def run(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*CLI, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"chinook-pipeline {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def spawn(self, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        return embedded.spawn([*CLI, *args], env=self.env, log=log, new_session=False)

    def produce_and_consume(
        self, db: Path, connection: Sequence[str], bucket: str, group: str
    ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        """`producer`, then a `consumer` writing objects to `bucket`, both over `connection` (the
        broker and topic options) with --exit-when-idle, logging at DEBUG."""
        debug = ["--log-level", "DEBUG"]
        produced = self.run("producer", "--db", str(db), *connection, "--exit-when-idle", *debug)
        consumed = self.run(
            "consumer",
            *connection,
            *("--bucket", bucket, "--group-id", group, "--exit-when-idle"),
            *debug,
        )
        return produced, consumed


def consumer_command(broker: kafka.Cluster, topic: str, *extra: str) -> list[str]:
    """`consumer` reading `topic` from `broker`, then `extra` (the sink, the group, ...)."""
    return ["consumer", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic, *extra]


def user_cli(s3_env: dict[str, str], cwd: Path) -> Cli:
    """A user's `chinook-pipeline` in `cwd`: this environment without CHINOOK_* settings, plus the
    AWS environment `s3_env`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINOOK_")}
    env.update(s3_env)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return Cli(env, cwd)


@pytest.fixture()
def cli(s3_env: dict[str, str], tmp_path: Path) -> Cli:
    return user_cli(s3_env, tmp_path)


def wait_for(probe: Callable[[], T], what: str, timeout: float = 120.0, interval: float = 0.2) -> T:
    """Poll until `probe()` is truthy and return it: a bounded wait, never a speed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def customer_rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT * FROM Customer ORDER BY CustomerId").fetchall()


def args(*pairs: Sequence[str]) -> list[str]:
    return [item for pair in pairs for item in pair]
