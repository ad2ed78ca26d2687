"""The config file (`--config`, TOML) and where it stands among the sources of a value:
command-line options beat environment variables, which beat the config file, which beats the
defaults.

Click already orders options, `envvar` and `default_map`; this module turns a config file into
that `default_map` and gathers pass-through librdkafka properties from all three sources.
"""

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chinook_shared.errors import PipelineError

KAFKA_ENV_PREFIX = "CHINOOK_KAFKA__"
KAFKA_TABLE = "kafka"
# Written by `chinook-pipeline dev` into its local profile (chinook_pipeline/local/profile.py):
# the pid of that run and the local S3 server's environment, not options of any command.
LOCAL_STACK_TABLE = "local_stack"


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise PipelineError(
            f"config file {path} not found: fix --config / CHINOOK_CONFIG"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise PipelineError(f"config file {path} is not valid TOML: {error}") from None


def default_map(
    document: Mapping[str, Any], commands: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, Any]]:
    """Per-command defaults from a config document.

    Top-level keys apply to every command that has an option of that name; a table named after
    a command (e.g. `[consumer]`) applies to that command only and wins over top-level keys.
    Keys use the option name with `_` or `-`. An unknown key is an error, not silently ignored.
    """
    top = {_key(k): v for k, v in document.items() if not isinstance(v, dict)}
    special = (KAFKA_TABLE, LOCAL_STACK_TABLE)
    tables = {k: v for k, v in document.items() if isinstance(v, dict) and k not in special}
    known_everywhere = {name for names in commands.values() for name in names}
    for key in top:
        if key not in known_everywhere:
            raise PipelineError(f"unknown option {key!r} in the config file: see --help for names")
    for table in tables:
        if table not in commands:
            raise PipelineError(
                f"unknown table [{table}] in the config file: use one of "
                f"{', '.join(sorted(commands))} or [kafka]"
            )
    result: dict[str, dict[str, Any]] = {}
    for command, names in commands.items():
        allowed = set(names)
        section = {_key(k): v for k, v in tables.get(command, {}).items()}
        for key in section:
            if key not in allowed:
                raise PipelineError(
                    f"unknown option {key!r} in [{command}] of the config file: "
                    f"see `chinook-pipeline {command} --help`"
                )
        merged = {k: v for k, v in top.items() if k in allowed}
        merged.update(section)
        result[command] = merged
    return result


def _key(name: str) -> str:
    return name.replace("-", "_")


def kafka_properties(
    file_table: Mapping[str, Any], environ: Mapping[str, str], flags: Iterable[str]
) -> dict[str, str]:
    """Pass-through librdkafka properties: `[kafka]` table < `CHINOOK_KAFKA__LINGER_MS` < flags.

    In an environment variable name, `_` stands for `.` (librdkafka names contain no `_`).
    Flags are `KEY=VALUE` pairs.
    """
    properties = {str(k): _text(v) for k, v in file_table.items()}
    for name, value in environ.items():
        if name.startswith(KAFKA_ENV_PREFIX) and len(name) > len(KAFKA_ENV_PREFIX):
            properties[name[len(KAFKA_ENV_PREFIX) :].lower().replace("_", ".")] = value
    for pair in flags:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise PipelineError(f"--kafka-property {pair!r} is not KEY=VALUE, e.g. linger.ms=5")
        properties[key.strip()] = value
    return properties


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
