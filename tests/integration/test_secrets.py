"""Secrets never reach the output, and the connection settings reach librdkafka.

A SASL password, an SSL key password and an AWS secret key are planted in the environment (and,
where a user could put them, in a flag, a file and a pass-through property); every command then
runs as a process (help, startup, normal work, error paths) and its stdout and stderr are searched
for them. That the secrets reach librdkafka is checked in test_kafka_client_settings.py.
"""

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest

from chinook_pipeline.cli.main import cli as root_command
from chinook_pipeline.local import embedded, kafka
from chinook_shared.kafka import REDACTED
from tests.conftest import Cli

SASL_PASSWORD = "planted-s3cr3t-XYZ"
AWS_SECRET = "planted-aws-S3CRET-q7Rw"
KEY_PASSWORD = "planted-keypass-77Jk"
FLAG_PASSWORD = "planted-flag-pw-5Tz"
SSL_KEY_PASSWORD = "planted-sslkey-pw-3Vd"
KEY_FILE_PASSWORD = "planted-keyfile-pw-8Ns"
PLANTED = (
    SASL_PASSWORD,
    AWS_SECRET,
    KEY_PASSWORD,
    FLAG_PASSWORD,
    SSL_KEY_PASSWORD,
    KEY_FILE_PASSWORD,
)


def command_paths(
    group: click.Group = root_command, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command and group of the CLI, the root included: ("bucket", "setup"), ..."""
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def assert_no_secret(results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        output = result.stdout + result.stderr
        for secret in PLANTED:
            assert secret not in output, (
                f"`{' '.join(map(str, result.args[3:]))}` printed a secret:\n{output}"
            )


def run_all(
    cli: Cli, commands: list[list[str]], timeout: float = 120
) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands concurrently (several wait on timeouts) and return every result."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda args: cli.run(*args, timeout=timeout, check=False), commands))


@pytest.fixture()
def planted(cli: Cli) -> Cli:
    """The CLI with secrets in the environment: the SASL password, the SSL key password, a password
    passed through as a librdkafka property, and the AWS secret key (moto accepts any credentials)."""
    cli.env.update(
        {
            "CHINOOK_SASL_PASSWORD": SASL_PASSWORD,
            "CHINOOK_SSL_KEY_PASSWORD": SSL_KEY_PASSWORD,
            "CHINOOK_KAFKA__SSL_KEY_PASSWORD": KEY_PASSWORD,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        }
    )
    return cli


def test_help_of_every_command_hides_the_planted_secrets(planted: Cli) -> None:
    paths = list(command_paths())
    assert ("producer",) in paths and ("consumer",) in paths and ("bucket", "setup") in paths
    results = run_all(planted, [[*path, "--help"] for path in paths] + [["--version"]])
    for result in results:
        assert result.returncode == 0, result.stderr
    assert_no_secret(results)
    producer_help = next(r.stdout for r in results if r.args[3:] == ["producer", "--help"])
    assert "CHINOOK_SASL_PASSWORD" in producer_help and "--sasl-password-file" in producer_help
    assert (
        "CHINOOK_SSL_KEY_PASSWORD" in producer_help and "--ssl-key-password-file" in producer_help
    )


@pytest.mark.slow
def test_services_and_tools_never_print_the_planted_secrets(
    planted: Cli, broker: kafka.Cluster, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    seeded = planted.run("seed", "--db", str(db), "--customers", "50")
    written = planted.run("write", "--db", str(db), "--rate", "50", "--duration", "0.3")
    password_file = tmp_path / "sasl-password"
    password_file.write_text(SASL_PASSWORD + "\n")
    key_password_file = tmp_path / "ssl-key-password"
    key_password_file.write_text(KEY_FILE_PASSWORD + "\n")
    unreachable = f"127.0.0.1:{embedded.free_port()}"
    sasl = [
        "--security-protocol",
        "SASL_PLAINTEXT",
        "--sasl-mechanism",
        "PLAIN",
        "--sasl-username",
        "chinook",
    ]
    kafka = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", topic]
    debug = ["--log-level", "DEBUG"]

    # Normal work first: PLAINTEXT to the real broker, the password set but unused by it.
    produced, consumed = planted.produce_and_consume(db, kafka, bucket, f"{topic}-sink")
    assert "starting" in produced.stderr and "starting" in consumed.stderr, (
        "no startup summary logged"
    )
    assert f'"sasl.password": "{REDACTED}"' in produced.stderr
    assert f'"ssl.key.password": "{REDACTED}"' in consumed.stderr

    tools = [
        ["verify", "--db", str(db), "--bucket", bucket],
        ["bucket", "setup", "--bucket", bucket, "--dry-run"],
        ["inspect", f"s3://{bucket}/no/such/object"],
    ]
    failing = [
        # Unreachable broker, with SASL on: the error path of both services.
        ["producer", "--db", str(db), "--bootstrap-servers", unreachable, *sasl, *debug],
        ["consumer", "--bootstrap-servers", unreachable, *sasl, "--bucket", bucket, *debug],
        [
            "producer",
            "--db",
            str(db),
            "--bootstrap-servers",
            unreachable,
            *sasl,
            "--sasl-password-file",
            str(password_file),
        ],
        [
            "consumer",
            "--bootstrap-servers",
            unreachable,
            "--bucket",
            bucket,
            "--ssl-key-password-file",
            str(key_password_file),
            *debug,
        ],
        # The passwords as flags, next to a bad value: a usage error.
        [
            "consumer",
            "--bootstrap-servers",
            unreachable,
            "--ssl-key-password",
            FLAG_PASSWORD,
            "--bucket",
            bucket,
            "--flush-bytes",
            "lots",
        ],
        [
            "producer",
            "--db",
            str(db),
            "--bootstrap-servers",
            unreachable,
            "--sasl-password",
            FLAG_PASSWORD,
            "--partitions",
            "0",
        ],
        # S3 error paths with the planted AWS secret.
        ["consumer", *kafka, "--bucket", f"{bucket}-missing"],
        ["verify", "--db", str(db), "--bucket", f"{bucket}-missing"],
        ["verify", "--db", str(tmp_path / "absent.db"), "--bucket", bucket],
    ]
    results = run_all(planted, tools + failing)
    for args, result in zip(tools, results[: len(tools)], strict=True):
        expected = 1 if args[0] == "inspect" else 0
        assert result.returncode == expected, f"{args}: {result.stdout}{result.stderr}"
    for args, result in zip(failing, results[len(tools) :], strict=True):
        assert result.returncode != 0, f"{args} should have failed:\n{result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
    assert "cannot reach the Kafka broker" in results[len(tools)].stderr
    assert_no_secret([seeded, written, produced, consumed, *results])
