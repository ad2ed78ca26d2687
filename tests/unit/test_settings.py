"""Each option is defined once, in a settings dataclass: the definition checks values wherever
they come from, and the click options are generated from it."""

import ast
import dataclasses
import os
from pathlib import Path
from typing import Any

import click
import pytest

from chinook_consumer.settings import ConsumerSettings
from chinook_pipeline.cli.main import cli
from chinook_pipeline.cli.options import build
from chinook_pipeline.cli.service_settings import ServiceSettings
from chinook_pipeline.local.settings import DevSettings
from chinook_producer.settings import ProducerSettings
from chinook_shared.errors import PipelineError
from chinook_shared.kafka import KafkaSettings
from chinook_shared.s3 import S3Settings
from chinook_shared.settings import Setting, non_empty, option_name, settings, spec_of
from chinook_shared.units import format_size, parse_size

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
KAFKA = KafkaSettings("broker:9092")


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        (Setting(1, min=1, max=64), 0, "must be between 1 and 64, not 0"),
        (Setting(1, min=1, max=64), 65, "must be between 1 and 64, not 65"),
        (Setting(1.0, min=0, min_open=True), 0.0, "must be more than 0, not 0"),
        (Setting(8 * MiB, min=5 * MiB, size=True), MiB, "must be at least 5MiB, not 1MiB"),
        (Setting("a", choices=("a", "b")), "c", "must be one of a, b, not 'c'"),
        (Setting("x", rule=non_empty), " ", "must not be empty"),
        (Setting(), None, "a value is required"),
    ],
)
def test_a_definition_says_what_is_wrong(spec: Setting, value: Any, problem: str) -> None:
    assert spec.problem(value) == problem


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (Setting(1, min=1, max=64), 64),
        (Setting(None, min=1), None),
        (Setting("PLAIN", choices=("PLAIN",), ignore_case=True), "plain"),
    ],
)
def test_a_definition_accepts_what_will_do(spec: Setting, value: Any) -> None:
    assert spec.problem(value) is None


def test_the_producer_settings_are_validated() -> None:
    with pytest.raises(PipelineError, match=r"^--partitions / CHINOOK_PARTITIONS: must be"):
        ProducerSettings(Path("x.db"), KAFKA, partitions=0)
    with pytest.raises(PipelineError, match="--topic / CHINOOK_TOPIC: must not be empty"):
        ProducerSettings(Path("x.db"), KAFKA, topic="")


def test_nested_settings_are_validated() -> None:
    with pytest.raises(PipelineError, match="--security-protocol"):
        KafkaSettings("broker:9092", security_protocol="TLS")
    with pytest.raises(PipelineError, match=r"--multipart-chunksize .*at least 5MiB, not 1MiB"):
        ConsumerSettings(KAFKA, S3Settings(), "chinook-data", multipart_chunksize=MiB)
    with pytest.raises(PipelineError, match="--bucket / CHINOOK_BUCKET: invalid bucket name"):
        ConsumerSettings(KAFKA, S3Settings(), "Bad_Bucket")


def test_a_secret_never_shows_in_repr() -> None:
    settings_repr = repr(KafkaSettings("b:1", sasl_password="pw-1", ssl_key_password="pw-2"))
    assert "pw-1" not in settings_repr and "pw-2" not in settings_repr


def _parsed(command: str, *args: str) -> dict[str, Any]:
    chosen = cli.commands[command]
    return dict(chosen.make_context(command, list(args)).params)


@pytest.mark.parametrize(
    ("command", "required", "expected"),
    [
        (
            "producer",
            ["--db", "x.db", "--bootstrap-servers", "broker:9092"],
            ProducerSettings(Path("x.db"), KAFKA),
        ),
        (
            "consumer",
            ["--bootstrap-servers", "broker:9092", "--bucket", "chinook-data"],
            ConsumerSettings(KAFKA, S3Settings(), "chinook-data"),
        ),
        ("dev", [], DevSettings()),
    ],
)
def test_the_command_line_defaults_are_the_definitions(
    command: str, required: list[str], expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("CHINOOK_")]:
        monkeypatch.delenv(name)
    params = _parsed(command, *required)
    assert build(type(expected), params) == expected
    if command != "dev":
        assert build(ServiceSettings, params) == ServiceSettings()


@pytest.mark.parametrize("cls", [ProducerSettings, ConsumerSettings, KafkaSettings, S3Settings])
def test_every_service_setting_is_an_option_of_its_commands(cls: type) -> None:
    commands = {
        ProducerSettings: ["producer"],
        ConsumerSettings: ["consumer"],
        KafkaSettings: ["producer", "consumer"],
        S3Settings: ["consumer", "bucket", "verify", "inspect"],
    }[cls]
    for name in commands:
        command = cli.commands[name]
        if isinstance(command, click.Group):
            command = command.commands["setup"]
        offered = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for field, spec in settings(cls):
            if spec.option:
                assert option_name(field, spec) in offered, (name, field.name)


def test_internal_fields_are_not_options() -> None:
    internal = {
        field.name
        for field in dataclasses.fields(ConsumerSettings)
        if (spec := spec_of(field)) is not None and not spec.option
    }
    assert internal == {"gzip_level"}
    assert "--gzip-level" not in {
        opt for param in cli.commands["consumer"].params for opt in getattr(param, "opts", [])
    }


@pytest.mark.parametrize("size", [1, 1000, 1024, 5 * MiB, 16 * MiB, 3 * 1024**3, 1536])
def test_format_size_reads_back(size: int) -> None:
    assert parse_size(format_size(size)) == size


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("shared", {"click", "chinook_pipeline", "producer", "consumer"}),
        ("producer", {"click", "chinook_pipeline", "consumer"}),
        ("consumer", {"click", "chinook_pipeline", "producer"}),
    ],
)
def test_definitions_do_not_depend_on_the_command_line(package: str, forbidden: set[str]) -> None:
    for path in (ROOT / package).rglob("*.py"):
        assert not _imports(path) & forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"
