"""The whole pipeline as a user runs it: `chinook-pipeline` processes on a real Tansu broker and
a real moto S3 server, checked by `chinook-pipeline verify`."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from chinook_pipeline.local import embedded, kafka
from chinook_pipeline.local.scrape import scrape
from chinook_pipeline.tools.writer import ChangeWriter
from chinook_shared import names
from tests.conftest import CLI, Cli, consumer_command, wait_for

pytestmark = pytest.mark.slow


def producer_args(db: Path, broker: kafka.Cluster, topic: str, *extra: str) -> list[str]:
    return [
        "producer",
        "--db",
        str(db),
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "--topic",
        topic,
        *extra,
    ]


def consumer_args(broker: kafka.Cluster, topic: str, bucket: str, *extra: str) -> list[str]:
    return consumer_command(
        broker, topic, "--bucket", bucket, "--group-id", f"{topic}-sink", *extra
    )


def verify_ok(cli: Cli, db: Path, bucket: str) -> str:
    result = cli.run("verify", "--db", str(db), "--bucket", bucket, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_real_chinook_database_arrives_exactly(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, real_chinook: Path
) -> None:
    cli.run(*producer_args(real_chinook, broker, topic, "--exit-when-idle"))
    cli.run(*consumer_args(broker, topic, bucket, "--exit-when-idle"))
    summary = verify_ok(cli, real_chinook, bucket)
    assert "59" in summary


def test_twenty_thousand_customers_end_to_end(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "20000")
    started = time.monotonic()
    cli.run(*producer_args(db, broker, topic, "--exit-when-idle"))
    cli.run(*consumer_args(broker, topic, bucket, "--exit-when-idle"))
    elapsed = time.monotonic() - started
    print(f"20,000 customers end to end in {elapsed:.1f}s = {20000 / elapsed:.0f} rows/s")
    verify_ok(cli, db, bucket)


def test_changes_after_start_arrive(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "500")
    producer_port, consumer_port = embedded.free_port(), embedded.free_port()
    producer = cli.spawn(
        *producer_args(db, broker, topic, "--metrics-port", str(producer_port)),
        log=tmp_path / "producer.log",
    )
    consumer = cli.spawn(
        *consumer_args(
            broker, topic, bucket, "--flush-age", "0.5", "--metrics-port", str(consumer_port)
        ),
        log=tmp_path / "consumer.log",
    )
    try:
        counts = ChangeWriter(db, seed=3).run(rate=200, stop=threading.Event(), duration=2.0)
        assert counts.get("insert") and counts.get("update") and counts.get("delete")
        wait_for(
            lambda: (
                cli.run("verify", "--db", str(db), "--bucket", bucket, check=False).returncode == 0
            ),
            "every change to reach S3",
        )
    finally:
        assert embedded.stop(producer) == 0, (tmp_path / "producer.log").read_text()
        assert embedded.stop(consumer) == 0, (tmp_path / "consumer.log").read_text()
    verify_ok(cli, db, bucket)


def test_consumer_restarted_mid_stream_continues_from_committed_offsets(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "20000")
    cli.run(*producer_args(db, broker, topic, "--exit-when-idle"))
    port = embedded.free_port()
    consumer = cli.spawn(
        *consumer_args(
            broker, topic, bucket, "--flush-records", "500", "--metrics-port", str(port)
        ),
        log=tmp_path / "consumer.log",
    )
    metrics = f"http://127.0.0.1:{port}/metrics"
    wait_for(
        lambda: scrape(metrics).get(names.CONSUMER_OFFSETS_COMMITTED, 0) > 0,
        "a first commit",
    )
    consumer.send_signal(signal.SIGKILL)
    consumer.wait()
    cli.run(*consumer_args(broker, topic, bucket, "--flush-records", "500", "--exit-when-idle"))
    verify_ok(cli, db, bucket)


def test_restarted_producer_does_not_republish(
    cli: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "300")
    cli.run(*producer_args(db, broker, topic, "--exit-when-idle"))
    cli.run(*producer_args(db, broker, topic, "--exit-when-idle"))
    ChangeWriter(db, seed=5).run(rate=500, stop=threading.Event(), duration=0.5)
    cli.run(*producer_args(db, broker, topic, "--exit-when-idle"))
    cli.run(*consumer_args(broker, topic, bucket, "--exit-when-idle"))
    summary = verify_ok(cli, db, bucket)
    assert "duplicate" in summary


def test_dev_stops_cleanly_on_sigint(tmp_path: Path, cli: Cli) -> None:
    env = {key: value for key, value in cli.env.items() if not key.startswith("AWS_")}
    process = subprocess.Popen(
        [
            *CLI,
            "dev",
            "--customers",
            "200",
            "--write-rate",
            "20",
            "--status-interval",
            "1",
            "--flush-age",
            "0.5",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: sum("published=" in line for line in lines) >= 3, "three status lines")
        children = _descendants(process.pid)
        assert len(children) >= 5, children  # broker, S3 server, producer, consumers
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=180) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    output = "".join(lines)
    assert "verify:" in output and "verify (tables): OK" in output, output
    wait_for(lambda: not any(_alive(pid) for pid in children), "every child to be gone", timeout=10)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
                found.extend(_descendants(int(entry.name)))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
