"""Configuration sources and their precedence: command-line flags beat environment variables,
which beat the config file, which beats the defaults.

Click already orders flags, `envvar` and `default_map`; this module turns a TOML config file into
that `default_map` and gathers pass-through librdkafka properties from all three sources.
"""

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.errors import PipelineError

ENV_PREFIX = "CHINOOK_"
KAFKA_ENV_PREFIX = "CHINOOK_KAFKA__"
KAFKA_TABLE = "kafka"
# Written by `chinook-pipeline dev` into its local profile (chinook_pipeline/local/profile.py):
# the pid of that run and the local S3 server's environment, not options of any command.
LOCAL_STACK_TABLE = "local_stack"


def env_name(option: str) -> str:
    """`--bootstrap-servers` / `bootstrap_servers` -> `CHINOOK_BOOTSTRAP_SERVERS`."""
    return ENV_PREFIX + option.lstrip("-").replace("-", "_").upper()


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


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`16MiB` / `8MB` / `1048576` -> bytes. Raises ValueError with a usable message."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size: use bytes or a unit, e.g. 16MiB, 512KB")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit in ("", "b"):
        return int(number)
    base = 1024 if "i" in unit else 1000
    return int(number * base ** ("kmgt".index(unit[0]) + 1))


def format_size(size: int) -> str:
    """The shortest exact spelling `parse_size` reads back: 16777216 -> `16MiB`."""
    for power, unit in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if size and size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return str(size)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `3d` (a bare number is seconds); raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 90s, 30m, 12h or 3d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
