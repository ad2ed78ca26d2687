"""A private PostgreSQL server for tests: the Iceberg catalog's database as compose runs it
(`postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB`), on a free port, stopped and started at will.

The binaries are Debian's (`make tools` installs the package `postgresql`; they live in
/usr/lib/postgresql/VERSION/bin, off PATH). PostgreSQL refuses to run as root, so as root every
server command runs as the `postgres` user (setpriv), in a directory of its own under the system
temp dir: pytest's tmp dirs belong to root, mode 0700, where that user cannot go. The server log
goes to the test's tmp dir. Unix sockets are off: clients use TCP on 127.0.0.1 with a password
(scram-sha-256), so the URI carries a secret that tests can look for in logs.
"""

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg2
import pytest

from chinook_pipeline.local import embedded

BINARIES: Final = "/usr/lib/postgresql/*/bin"  # the Makefile's `tools` target looks here too
SERVER_USER: Final = "postgres"  # the Debian package's; the server's owner when we are root
START_TIMEOUT: Final = 60.0


def server_binaries() -> Path:
    """The newest directory holding `initdb` and `postgres`; fails the test (never skips) when
    there is none, since `make tools` installs them."""
    found = sorted(glob.glob(BINARIES), key=_version, reverse=True)
    initdb = shutil.which("initdb")
    for directory in [Path(d) for d in found] + ([Path(initdb).parent] if initdb else []):
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    pytest.fail(
        f"PostgreSQL server not installed (no initdb and postgres in {BINARIES} or on PATH): "
        "run `make tools`, which installs the Debian package `postgresql`",
        pytrace=False,
    )


def _version(binaries: str) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); 9.6 -> (9, 6)."""
    return tuple(int(part) for part in Path(binaries).parent.name.split(".") if part.isdigit())


def _as_owner(argv: Sequence[str], die_with_parent: bool = False) -> list[str]:
    """`argv` run as the server's owner: the `postgres` user when we are root, else ourselves."""
    if os.geteuid() != 0:
        return list(argv)
    switch = [f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups"]
    if die_with_parent:  # the uid change clears the parent-death signal spawn() asked for
        switch.append("--pdeathsig=INT")
    return ["setpriv", *switch, "--", *argv]


@dataclass
class PostgresServer:
    """One cluster, its superuser `user` authenticated by `password`, its database `database`."""

    binaries: Path
    base: Path  # owned by the server's owner: the data directory and nothing else of ours
    log: Path
    port: int = field(default_factory=embedded.free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    user: str = "chinook"
    database: str = "iceberg"
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The catalog URI, password included."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/"
            f"{self.database}"
        )

    @property
    def data(self) -> Path:
        return self.base / "data"

    def initialise(self) -> None:
        """initdb: a throw-away cluster (no fsync), password authentication only."""
        password_file = self.base / "password"
        password_file.write_text(self.password)
        if os.geteuid() == 0:
            for path in (self.base, password_file):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        argv = [
            str(self.binaries / "initdb"),
            f"--pgdata={self.data}",
            f"--username={self.user}",
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]
        try:
            result = subprocess.run(
                _as_owner(argv), cwd=self.base, capture_output=True, text=True, timeout=120
            )
        finally:
            password_file.unlink()
        if result.returncode != 0:
            raise AssertionError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        """Start the server and wait (bounded) until it accepts a login."""
        assert self.process is None, "already running"
        argv = [
            str(self.binaries / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            "",  # no Unix socket
        ]
        self.process = embedded.spawn(
            _as_owner(argv, die_with_parent=True), log=self.log, new_session=False
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepts_logins():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"PostgreSQL did not start: see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are cut and their transactions rolled back."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def create_database(self) -> None:
        with closing(self._connect("postgres")) as connection:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')

    def _connect(self, database: str) -> "psycopg2.extensions.connection":
        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=5,
        )

    def _accepts_logins(self) -> bool:
        try:
            self._connect("postgres").close()
        except psycopg2.OperationalError:
            return False
        return True


@contextmanager
def postgres_server(log_dir: Path) -> Iterator[PostgresServer]:
    """A running server with its database created; stopped and deleted afterwards. Its log is
    `log_dir`/postgres.log."""
    binaries = server_binaries()
    base = Path(tempfile.mkdtemp(prefix="chinook-pg-"))
    server = PostgresServer(binaries, base, log_dir / "postgres.log")
    try:
        server.initialise()
        server.start()
        server.create_database()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
