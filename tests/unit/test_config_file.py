"""The config file among the sources of a value (option > env > file > default), pass-through
Kafka properties, sizes."""

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from chinook_pipeline.cli import main as cli_module
from chinook_pipeline.config_file import default_map, kafka_properties
from chinook_shared.errors import PipelineError
from chinook_shared.settings import env_name
from chinook_shared.units import parse_size


def test_env_name() -> None:
    assert env_name("--bootstrap-servers") == "CHINOOK_BOOTSTRAP_SERVERS"
    assert env_name("flush_age") == "CHINOOK_FLUSH_AGE"


def test_default_map_sections_beat_top_level() -> None:
    document = {"topic": "top", "db": "x.db", "consumer": {"topic": "mine"}}
    result = default_map(document, {"producer": ["topic", "db"], "consumer": ["topic", "bucket"]})
    assert result == {"producer": {"topic": "top", "db": "x.db"}, "consumer": {"topic": "mine"}}


@pytest.mark.parametrize(
    "document",
    [{"no_such_option": 1}, {"consumer": {"no_such_option": 1}}, {"nope": {"topic": "x"}}],
)
def test_default_map_rejects_unknown_keys(document: dict[str, Any]) -> None:
    with pytest.raises(PipelineError):
        default_map(document, {"consumer": ["topic"]})


def test_kafka_properties_precedence() -> None:
    properties = kafka_properties(
        {"linger.ms": 1, "acks": "all", "enable.idempotence": True},
        {"CHINOOK_KAFKA__LINGER_MS": "2", "CHINOOK_KAFKA__BATCH_SIZE": "100", "OTHER": "x"},
        ["acks=1"],
    )
    assert properties == {
        "linger.ms": "2",
        "acks": "1",
        "batch.size": "100",
        "enable.idempotence": "true",
    }


def test_kafka_property_flag_must_be_key_value() -> None:
    with pytest.raises(PipelineError):
        kafka_properties({}, {}, ["linger.ms"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        ("16MiB", 16 * 1024**2),
        ("512KB", 512_000),
        ("1.5 GiB", 1610612736),
        ("7b", 7),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def _captured_topic(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the consumer service by a recorder of the config it would get."""
    seen: dict[str, Any] = {}

    def fake_run_service(name: str, target: Any, *_: Any) -> None:
        seen["name"] = name

    import chinook_consumer.service as service
    import chinook_pipeline.cli.runner as runner

    monkeypatch.setattr(runner, "run_service", fake_run_service)
    monkeypatch.setattr(service, "run_consumer", lambda config, health, stop: None)
    original = cli_module.kafka_settings

    def recording(ctx: click.Context, params: dict[str, Any]) -> Any:
        seen.update(params)
        return original(ctx, params)

    monkeypatch.setattr(cli_module, "kafka_settings", recording)
    return seen


def test_flag_beats_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text(
        'bootstrap_servers = "file:9092"\ntopic = "from-file"\n'
        '[consumer]\nbucket = "file-bucket"\nflush_age = 3.0\nflush_bytes = "1MiB"\n'
    )
    runner = CliRunner()
    seen = _captured_topic(monkeypatch)
    result = runner.invoke(cli_module.cli, ["--config", str(config), "consumer"], env={})
    assert result.exit_code == 0, result.output
    assert (seen["topic"], seen["bucket"], seen["flush_age"], seen["flush_bytes"]) == (
        "from-file",
        "file-bucket",
        3.0,
        1024**2,
    )
    env = {"CHINOOK_TOPIC": "from-env", "CHINOOK_FLUSH_AGE": "4"}
    result = runner.invoke(cli_module.cli, ["--config", str(config), "consumer"], env=env)
    assert result.exit_code == 0, result.output
    assert (seen["topic"], seen["flush_age"]) == ("from-env", 4.0)
    result = runner.invoke(
        cli_module.cli, ["--config", str(config), "consumer", "--topic", "from-flag"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (seen["topic"], seen["flush_age"], seen["bootstrap_servers"]) == (
        "from-flag",
        4.0,
        "file:9092",
    )


def test_bad_option_value_is_one_clear_line() -> None:
    result = CliRunner().invoke(
        cli_module.cli,
        [
            "consumer",
            "--bootstrap-servers",
            "x:1",
            "--bucket",
            "chinook-data",
            "--flush-bytes",
            "lots",
        ],
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: --flush-bytes: 'lots' is not a size")
    assert len(result.output.splitlines()) == 1, result.output


def test_unknown_config_key_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("flush_agee = 3\n")
    result = CliRunner().invoke(cli_module.cli, ["--config", str(config), "seed", "--db", "x.db"])
    assert result.exit_code == 1
    assert "unknown option 'flush_agee'" in result.output


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("flag", "Error: --flush-age: "),
        ("env", "Error: CHINOOK_FLUSH_AGE: "),
        ("file", "Error: flush_age in the config file: "),
    ],
)
def test_a_bad_value_names_where_it_came_from(source: str, expected: str, tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text("[consumer]\nflush_age = 0\n" if source == "file" else "")
    args = ["--config", str(config), "consumer", "--bootstrap-servers", "x:1", "--bucket", "b-1"]
    result = CliRunner().invoke(
        cli_module.cli,
        [*args, "--flush-age", "0"] if source == "flag" else args,
        env={"CHINOOK_FLUSH_AGE": "0"} if source == "env" else {"CHINOOK_FLUSH_AGE": None},
    )
    assert result.exit_code == 2
    assert result.output == f"{expected}0.0 is not in the range 0.05<=x<=86400.\n"
