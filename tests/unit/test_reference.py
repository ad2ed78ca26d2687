"""The configuration reference in docs/configuration.md is exactly what the code generates."""

from pathlib import Path

from chinook_pipeline.cli.main import cli
from chinook_pipeline.cli.reference import BEGIN, END, PAGE, render


def test_the_page_is_docs_configuration() -> None:
    assert PAGE.relative_to(Path(__file__).resolve().parents[2]) == Path("docs/configuration.md")


def test_configuration_reference_is_current() -> None:
    text = PAGE.read_text()
    assert BEGIN in text and END in text, f"{PAGE.name} lacks the generated configuration reference"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert section == render(cli).strip(), f"{PAGE.name} is stale: run `make docs`"


def test_every_default_is_a_value_a_user_could_write() -> None:
    rows = [line for line in render(cli).splitlines() if line.startswith("| `-")]
    assert rows
    for row in rows:
        default = row.split(" | ")[2]
        assert default in {"", "required"} or default.startswith("`"), row
        assert "Sentinel" not in default and "UNSET" not in default, row


def test_every_option_reads_a_chinook_environment_variable() -> None:
    for name, command in cli.commands.items():
        for param in command.params:
            if param.name in {"kafka_property", "help"} or not param.opts:
                continue
            envvar = getattr(param, "envvar", None)
            if hasattr(param, "opts") and param.param_type_name == "option":
                assert isinstance(envvar, str) and envvar.startswith("CHINOOK_"), (name, param.name)
