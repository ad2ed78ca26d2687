"""Secrets never reach the output, and the connection settings reach librdkafka.

A SASL password, an SSL key password and an AWS secret key are planted in the environment (and,
where a user could put them, in a flag, a file and a pass-through property); every command then
runs as a process (help, startup, normal work, error paths) and its stdout and stderr are searched
for them.
Connection settings are checked on `KafkaSettings.client_config()` and on what the CLI builds.
"""

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from confluent_kafka.admin import AdminClient

from chinook_pipeline.cli.main import cli as root_command
from chinook_pipeline.cli.main import kafka_settings
from chinook_pipeline.local import embedded, kafka
from shared.kafka import REDACTED, SECRET_KEYS, KafkaSettings, redact
from shared.settings import option_name, settings
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
    produced = planted.run("producer", "--db", str(db), *kafka, "--exit-when-idle", *debug)
    consumed = planted.run(
        "consumer",
        *kafka,
        "--bucket",
        bucket,
        "--group-id",
        f"{topic}-sink",
        "--exit-when-idle",
        *debug,
    )
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


# --- settings that reach librdkafka ---------------------------------------------------------


def cli_kafka_config(*args: str, command: str = "producer") -> dict[str, object]:
    """The librdkafka configuration the CLI builds for `chinook-pipeline COMMAND ARGS`."""
    required = {
        "producer": ["--db", "unused.db"],
        "consumer": ["--bucket", "unused"],
    }[command]
    chosen = root_command.commands[command]
    context = chosen.make_context(command, [*required, "--bootstrap-servers", "broker:9092", *args])
    return kafka_settings(context, context.params).client_config()


@pytest.fixture()
def no_chinook_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in os.environ:
        if name.startswith("CHINOOK_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_sasl_password_file_reaches_librdkafka_and_redact_hides_it(
    no_chinook_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text(SASL_PASSWORD + "\n")
    config = cli_kafka_config(
        "--security-protocol",
        "SASL_PLAINTEXT",
        "--sasl-mechanism",
        "SCRAM-SHA-512",
        "--sasl-username",
        "chinook",
        "--sasl-password-file",
        str(secret),
    )
    assert config["sasl.password"] == SASL_PASSWORD  # the file's content, its newline stripped
    assert (config["security.protocol"], config["sasl.mechanism"], config["sasl.username"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "chinook",
    )
    AdminClient(dict(config))  # librdkafka accepts it (no connection is made yet)
    safe = redact(config)
    assert safe["sasl.password"] == REDACTED
    assert SASL_PASSWORD not in json.dumps(safe)
    assert all(config[key] == value for key, value in safe.items() if key != "sasl.password")


def test_sasl_password_from_the_environment_and_the_file_wins(
    no_chinook_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_chinook_env.setenv("CHINOOK_SASL_PASSWORD", FLAG_PASSWORD)
    assert cli_kafka_config(command="consumer")["sasl.password"] == FLAG_PASSWORD
    secret = tmp_path / "password"
    secret.write_text(SASL_PASSWORD)
    assert cli_kafka_config("--sasl-password-file", str(secret))["sasl.password"] == SASL_PASSWORD


def test_ssl_key_password_from_flag_environment_and_file(
    no_chinook_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flag = cli_kafka_config("--ssl-key-password", FLAG_PASSWORD)
    assert flag["ssl.key.password"] == FLAG_PASSWORD
    assert redact(flag)["ssl.key.password"] == REDACTED
    no_chinook_env.setenv("CHINOOK_SSL_KEY_PASSWORD", SSL_KEY_PASSWORD)
    assert cli_kafka_config(command="consumer")["ssl.key.password"] == SSL_KEY_PASSWORD
    secret = tmp_path / "key-password"
    secret.write_text(KEY_FILE_PASSWORD + "\n")
    from_file = cli_kafka_config("--ssl-key-password-file", str(secret))
    assert from_file["ssl.key.password"] == KEY_FILE_PASSWORD, "the file wins, newline stripped"


def test_every_secret_has_a_flag_an_environment_variable_and_a_file() -> None:
    secrets = [option_name(field, spec) for field, spec in settings(KafkaSettings) if spec.secret]
    assert secrets == ["--sasl-password", "--ssl-key-password"]
    for command in ("producer", "consumer"):
        params = {
            opt: param
            for param in root_command.commands[command].params
            if isinstance(param, click.Option)
            for opt in param.opts
        }
        for name in secrets:
            env = "CHINOOK_" + name[2:].replace("-", "_").upper()
            assert params[name].envvar == env, (command, name)
            assert params[name + "-file"].envvar == env + "_FILE", (command, name)
            assert not params[name].show_default, (command, name)


def test_redact_hides_every_secret_key_and_settings_repr_hides_passwords() -> None:
    config = {key: f"{SASL_PASSWORD}-{index}" for index, key in enumerate(sorted(SECRET_KEYS))}
    config["bootstrap.servers"] = "broker:9092"
    safe = redact(config)
    assert SASL_PASSWORD not in json.dumps(safe)
    assert safe["bootstrap.servers"] == "broker:9092"
    assert config["bootstrap.servers"] == "broker:9092" and SASL_PASSWORD in json.dumps(config), (
        "redact copies"
    )
    settings = KafkaSettings(
        "broker:9092", sasl_password=SASL_PASSWORD, ssl_key_password=KEY_PASSWORD
    )
    assert SASL_PASSWORD not in repr(settings) and KEY_PASSWORD not in repr(settings)


@pytest.mark.parametrize("key", ["ssl.key.pem", "sasl.oauthbearer.config"])
def test_redact_hides_inline_keys_and_oauth_config(key: str) -> None:
    assert redact({key: SASL_PASSWORD})[key] == REDACTED


@pytest.fixture()
def pem_files(tmp_path: Path) -> dict[str, str]:
    files = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        path = tmp_path / name
        path.write_text("-----BEGIN PLACEHOLDER-----\n-----END PLACEHOLDER-----\n")
        files[name] = str(path)
    return files


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_tls_settings_pass_through(protocol: str, pem_files: dict[str, str]) -> None:
    settings = KafkaSettings(
        "broker:9093",
        security_protocol=protocol,
        sasl_mechanism="SCRAM-SHA-256" if protocol == "SASL_SSL" else None,
        ssl_ca_location=pem_files["ca.pem"],
        ssl_certificate_location=pem_files["client.pem"],
        ssl_key_location=pem_files["client.key"],
    )
    config = settings.client_config()
    assert config["security.protocol"] == protocol
    assert config["ssl.ca.location"] == pem_files["ca.pem"]
    assert config["ssl.certificate.location"] == pem_files["client.pem"]
    assert config["ssl.key.location"] == pem_files["client.key"]
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert config.get("sasl.mechanism") == ("SCRAM-SHA-256" if protocol == "SASL_SSL" else None)
    no_check = KafkaSettings("broker:9093", security_protocol=protocol, ssl_verify_hostname=False)
    assert no_check.client_config()["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize("protocol", [None, "PLAINTEXT", "SASL_PLAINTEXT"])
def test_no_tls_setting_without_tls(protocol: str | None) -> None:
    config = KafkaSettings(
        "broker:9092", security_protocol=protocol, ssl_verify_hostname=False
    ).client_config()
    assert "ssl.endpoint.identification.algorithm" not in config
    assert config.get("security.protocol") == protocol


def test_cli_tls_flags_reach_librdkafka(
    no_chinook_env: pytest.MonkeyPatch, pem_files: dict[str, str]
) -> None:
    tls = [
        "--security-protocol",
        "SASL_SSL",
        "--sasl-mechanism",
        "PLAIN",
        "--ssl-ca-location",
        pem_files["ca.pem"],
        "--ssl-certificate-location",
        pem_files["client.pem"],
        "--ssl-key-location",
        pem_files["client.key"],
    ]
    config = cli_kafka_config(*tls, command="consumer")
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "PLAIN"
    assert config["ssl.ca.location"] == pem_files["ca.pem"]
    assert config["ssl.certificate.location"] == pem_files["client.pem"]
    assert config["ssl.key.location"] == pem_files["client.key"]
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert (
        cli_kafka_config(*tls, "--no-ssl-verify-hostname")["ssl.endpoint.identification.algorithm"]
        == "none"
    )
    no_chinook_env.setenv("CHINOOK_SECURITY_PROTOCOL", "SSL")
    no_chinook_env.setenv("CHINOOK_SSL_CA_LOCATION", pem_files["ca.pem"])
    from_env = cli_kafka_config()
    assert (
        from_env["security.protocol"] == "SSL"
        and from_env["ssl.ca.location"] == pem_files["ca.pem"]
    )


def test_kafka_properties_from_flags_and_environment_land_in_the_config(
    no_chinook_env: pytest.MonkeyPatch,
) -> None:
    no_chinook_env.setenv("CHINOOK_KAFKA__LINGER_MS", "25")
    no_chinook_env.setenv("CHINOOK_KAFKA__SOCKET_KEEPALIVE_ENABLE", "true")
    config = cli_kafka_config(
        "--kafka-property", "client.rack=use1-az1", "--kafka-property", "linger.ms=5"
    )
    assert config["client.rack"] == "use1-az1"
    assert config["socket.keepalive.enable"] == "true"
    assert config["linger.ms"] == "5", "a flag beats CHINOOK_KAFKA__*"
    assert cli_kafka_config(command="consumer")["linger.ms"] == "25"
