"""The connection settings reach librdkafka: checked on `KafkaSettings.client_properties()` and on
what the CLI builds from flags, environment variables and secret files; `redact` hides every
secret of them."""

import json
import os
from pathlib import Path

import click
import pytest
from confluent_kafka.admin import AdminClient

from chinook_pipeline.cli.main import cli as root_command
from chinook_pipeline.cli.main import kafka_settings
from chinook_shared.kafka import REDACTED, SECRET_KEYS, KafkaSettings, redact
from chinook_shared.settings import option_name, settings
from tests.integration.test_secrets import (
    FLAG_PASSWORD,
    KEY_FILE_PASSWORD,
    KEY_PASSWORD,
    SASL_PASSWORD,
    SSL_KEY_PASSWORD,
)


def cli_kafka_properties(*args: str, command: str = "producer") -> dict[str, object]:
    """The librdkafka configuration the CLI builds for `chinook-pipeline COMMAND ARGS`."""
    required = {
        "producer": ["--db", "unused.db"],
        "consumer": ["--bucket", "unused"],
    }[command]
    chosen = root_command.commands[command]
    context = chosen.make_context(command, [*required, "--bootstrap-servers", "broker:9092", *args])
    return kafka_settings(context, context.params).client_properties()


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
    properties = cli_kafka_properties(
        "--security-protocol",
        "SASL_PLAINTEXT",
        "--sasl-mechanism",
        "SCRAM-SHA-512",
        "--sasl-username",
        "chinook",
        "--sasl-password-file",
        str(secret),
    )
    assert properties["sasl.password"] == SASL_PASSWORD  # the file's content, its newline stripped
    assert (
        properties["security.protocol"],
        properties["sasl.mechanism"],
        properties["sasl.username"],
    ) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "chinook",
    )
    AdminClient(dict(properties))  # librdkafka accepts it (no connection is made yet)
    safe = redact(properties)
    assert safe["sasl.password"] == REDACTED
    assert SASL_PASSWORD not in json.dumps(safe)
    assert all(properties[key] == value for key, value in safe.items() if key != "sasl.password")


def test_sasl_password_from_the_environment_and_the_file_wins(
    no_chinook_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_chinook_env.setenv("CHINOOK_SASL_PASSWORD", FLAG_PASSWORD)
    assert cli_kafka_properties(command="consumer")["sasl.password"] == FLAG_PASSWORD
    secret = tmp_path / "password"
    secret.write_text(SASL_PASSWORD)
    assert (
        cli_kafka_properties("--sasl-password-file", str(secret))["sasl.password"] == SASL_PASSWORD
    )


def test_ssl_key_password_from_flag_environment_and_file(
    no_chinook_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flag = cli_kafka_properties("--ssl-key-password", FLAG_PASSWORD)
    assert flag["ssl.key.password"] == FLAG_PASSWORD
    assert redact(flag)["ssl.key.password"] == REDACTED
    no_chinook_env.setenv("CHINOOK_SSL_KEY_PASSWORD", SSL_KEY_PASSWORD)
    assert cli_kafka_properties(command="consumer")["ssl.key.password"] == SSL_KEY_PASSWORD
    secret = tmp_path / "key-password"
    secret.write_text(KEY_FILE_PASSWORD + "\n")
    from_file = cli_kafka_properties("--ssl-key-password-file", str(secret))
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
    properties = {key: f"{SASL_PASSWORD}-{index}" for index, key in enumerate(sorted(SECRET_KEYS))}
    properties["bootstrap.servers"] = "broker:9092"
    safe = redact(properties)
    assert SASL_PASSWORD not in json.dumps(safe)
    assert safe["bootstrap.servers"] == "broker:9092"
    assert properties["bootstrap.servers"] == "broker:9092" and SASL_PASSWORD in json.dumps(
        properties
    ), "redact copies"
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
    properties = settings.client_properties()
    assert properties["security.protocol"] == protocol
    assert properties["ssl.ca.location"] == pem_files["ca.pem"]
    assert properties["ssl.certificate.location"] == pem_files["client.pem"]
    assert properties["ssl.key.location"] == pem_files["client.key"]
    assert properties["ssl.endpoint.identification.algorithm"] == "https"
    assert properties.get("sasl.mechanism") == ("SCRAM-SHA-256" if protocol == "SASL_SSL" else None)
    no_check = KafkaSettings("broker:9093", security_protocol=protocol, ssl_verify_hostname=False)
    assert no_check.client_properties()["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize("protocol", [None, "PLAINTEXT", "SASL_PLAINTEXT"])
def test_no_tls_setting_without_tls(protocol: str | None) -> None:
    properties = KafkaSettings(
        "broker:9092", security_protocol=protocol, ssl_verify_hostname=False
    ).client_properties()
    assert "ssl.endpoint.identification.algorithm" not in properties
    assert properties.get("security.protocol") == protocol


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
    properties = cli_kafka_properties(*tls, command="consumer")
    assert properties["security.protocol"] == "SASL_SSL" and properties["sasl.mechanism"] == "PLAIN"
    assert properties["ssl.ca.location"] == pem_files["ca.pem"]
    assert properties["ssl.certificate.location"] == pem_files["client.pem"]
    assert properties["ssl.key.location"] == pem_files["client.key"]
    assert properties["ssl.endpoint.identification.algorithm"] == "https"
    assert (
        cli_kafka_properties(*tls, "--no-ssl-verify-hostname")[
            "ssl.endpoint.identification.algorithm"
        ]
        == "none"
    )
    no_chinook_env.setenv("CHINOOK_SECURITY_PROTOCOL", "SSL")
    no_chinook_env.setenv("CHINOOK_SSL_CA_LOCATION", pem_files["ca.pem"])
    from_env = cli_kafka_properties()
    assert (
        from_env["security.protocol"] == "SSL"
        and from_env["ssl.ca.location"] == pem_files["ca.pem"]
    )


def test_kafka_properties_from_flags_and_environment_land_in_the_properties(
    no_chinook_env: pytest.MonkeyPatch,
) -> None:
    no_chinook_env.setenv("CHINOOK_KAFKA__LINGER_MS", "25")
    no_chinook_env.setenv("CHINOOK_KAFKA__SOCKET_KEEPALIVE_ENABLE", "true")
    properties = cli_kafka_properties(
        "--kafka-property", "client.rack=use1-az1", "--kafka-property", "linger.ms=5"
    )
    assert properties["client.rack"] == "use1-az1"
    assert properties["socket.keepalive.enable"] == "true"
    assert properties["linger.ms"] == "5", "a flag beats CHINOOK_KAFKA__*"
    assert cli_kafka_properties(command="consumer")["linger.ms"] == "25"
