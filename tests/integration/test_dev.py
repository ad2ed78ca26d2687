"""Two `chinook-pipeline dev` runs in a row in one folder, as two `make dev` in one clone: both
end with every sink verified, and the commands the banner prints run as pasted (no AWS
variables, no flags added) and answer exactly while the second one runs."""

import json
import re
import shlex
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.conftest import CLI, Cli, wait_for

pytestmark = pytest.mark.slow
VERIFIED = ("verify: OK", "verify (parquet): OK", "verify (tables): OK")
EVENTS = re.compile(r", (\d+) events,")
ROW = re.compile(r"\s*(.*?)\s*(\d+)")  # a row of a two-column (or one-column) count table
SINK = re.compile(
    r"(objects|parquet|tables) (\S+) consumed=(\d+)(?: uploaded=\d+)? committed=(\d+) lag=(\d+)"
)


@contextmanager
def dev(cli: Cli, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`dev ARGS` in the test's folder, with no AWS variable in its environment or the tools'."""
    env = {key: value for key, value in cli.env.items() if not key.startswith("AWS_")}
    process = subprocess.Popen(
        [*CLI, "dev", "--customers", "200", "--status-interval", "2", *args],
        cwd=cli.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(5)


def caught_up(lines: list[str]) -> bool:
    """The last status line shows every sink healthy, with all it consumed committed."""
    status = [line for line in lines if line.startswith("producer ")]
    sinks = SINK.findall(status[-1]) if status else []
    return len(sinks) == 3 and all(
        health == "ok" and int(consumed) > 0 and consumed == committed and lag == "0"
        for _, health, consumed, committed, lag in sinks
    )


def pasted(cli: Cli, command: str) -> subprocess.CompletedProcess[str]:
    """A banner command as a person pastes it: its own words, in the folder of `dev`."""
    env = {key: value for key, value in cli.env.items() if not key.startswith("AWS_")}
    return subprocess.run(
        shlex.split(command), cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=180
    )


def test_two_dev_runs_in_one_folder_verify_and_the_banner_commands_answer_exactly(
    cli: Cli,
) -> None:
    with dev(cli, "--duration", "15", "--write-rate", "20") as (first, lines):
        assert first.wait(timeout=400) == 0, "".join(lines)
    output = "".join(lines)
    assert all(line in output for line in VERIFIED), output
    profile = cli.cwd / ".chinook-dev.toml"
    assert not profile.exists(), "the profile goes with its dev"

    with dev(cli, "--no-writes") as (second, lines):
        wait_for(
            lambda: caught_up(lines) and any(line.startswith("first object") for line in lines),
            "every sink to commit the snapshot",
            timeout=300,
        )
        assert profile.exists()
        commands = [
            line.removeprefix("first object: ").strip()
            for line in lines
            if line.startswith(("  ", "first object: ")) and "chinook-pipeline " in line
        ]
        assert len(commands) == 7, lines  # 3 queries, 3 verify, 1 inspect
        results = {command: pasted(cli, command) for command in commands}
        for command, result in results.items():
            assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
        check_answers(cli.cwd / "data" / "chinook.db", results)
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=300) == 0, "".join(lines)
    output = "".join(lines)
    assert "removed data/iceberg.db" in output and "removed data/logs/kafka" in output
    assert all(line in output for line in VERIFIED), output
    assert not profile.exists()
    tables_log = (cli.cwd / "data" / "logs" / "consumer-tables.log").read_text()
    assert "exiting without waiting" not in tables_log


def check_answers(db: Path, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """What the pasted commands printed is what the database holds, each change once."""
    with closing(sqlite3.connect(db)) as connection:
        customers = connection.execute("SELECT count(*) FROM Customer").fetchone()[0]
        countries = connection.execute(
            "SELECT Country, count(*) FROM Customer GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
        ).fetchall()
    outputs = {command: result.stdout for command, result in results.items()}
    verified = [out for command, out in outputs.items() if " verify" in command]
    assert len(verified) == 3 and all(out.startswith("OK: ") for out in verified), verified
    assert all(" 0 duplicate events" in out for out in verified), verified
    events = {int(EVENTS.search(out)[1]) for out in verified}  # type: ignore[index]
    assert len(events) == 1, verified  # every sink holds every change, once
    for command, out in outputs.items():
        if " inspect " in command:
            assert all("sequence" in json.loads(line) for line in out.splitlines()), out
            continue
        rows = [ROW.fullmatch(line).groups() for line in out.splitlines()[2:-1]]  # type: ignore[union-attr]
        if "country" in command:
            assert [(name, int(count)) for name, count in rows] == countries, out
        elif "FROM customer_changes" in command:
            assert {sum(int(count) for _, count in rows)} == events, out
        elif "--table" in command:
            assert rows == [("", str(customers))], out
