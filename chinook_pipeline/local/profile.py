"""The local profile: while `chinook-pipeline dev` runs, the tools find its stack on their own.

`dev` writes `.chinook-dev.toml` in the folder it runs in once its servers are up, and removes it
when it stops. It is a config file like any other (`--config`, chinook_pipeline/config_file.py):
a table per command it serves (`query`, `verify`, `inspect`, `iceberg verify`) holding the run's
bucket, database, catalog and S3 endpoint, plus a `[local_stack]` table with the pid of the `dev`
that wrote it and the environment of its S3 server: moto's made-up keys, which open nothing else.
A command run in that folder without `--config` / `CHINOOK_CONFIG` reads it while that `dev` is
still running; flags and `CHINOOK_*` variables still win, and so do AWS variables already set.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from chinook_pipeline.config_file import LOCAL_STACK_TABLE, read_config_file
from chinook_shared.errors import PipelineError

PROFILE: Final = Path(".chinook-dev.toml")
HEADER: Final = (
    "# Written by `chinook-pipeline dev` while it runs (removed when it stops): the tools run in\n"
    "# this folder without --config read it to reach its local stack. The AWS keys are those of\n"
    "# its local S3 server (moto), not real ones.\n"
)


def write_profile(
    path: Path, pid: int, environment: Mapping[str, str], tables: Mapping[str, Mapping[str, str]]
) -> None:
    """Write the profile of the `dev` with `pid`: `tables` maps a command to its options."""
    sections = [
        _table(LOCAL_STACK_TABLE, {"pid": pid, "environment": environment}),
        *(_table(command, options) for command, options in tables.items()),
    ]
    temporary = path.with_name(f"{path.name}.{pid}")
    temporary.write_text(HEADER + "\n".join(sections))
    temporary.replace(path)  # a reader never sees half a profile


def remove_profile(path: Path, pid: int) -> None:
    """Remove the profile if the `dev` with `pid` wrote it (another run may have replaced it)."""
    try:
        if read_config_file(path).get(LOCAL_STACK_TABLE, {}).get("pid") == pid:
            path.unlink()
    except (OSError, PipelineError):
        pass  # gone already, or not a profile any more: not ours to remove


def read_profile(path: Path) -> tuple[dict[str, Any], int | None]:
    """(the profile, the pid of the `dev` that wrote it while that `dev` runs, else None: killed,
    it could not remove its profile); ({}, None) when there is none."""
    if not path.is_file():
        return {}, None
    document = read_config_file(path)
    pid = document.get(LOCAL_STACK_TABLE, {}).get("pid")
    return document, pid if isinstance(pid, int) and _running(pid) else None


def served(document: Mapping[str, Any]) -> set[str]:
    """The top-level commands a profile has options for (`iceberg` for `iceberg verify`)."""
    return {
        name.split(" ")[0]
        for name, value in document.items()
        if isinstance(value, dict) and name != LOCAL_STACK_TABLE
    }


def apply_environment(document: Mapping[str, Any]) -> None:
    """Set the local stack's environment variables that are not set already."""
    for name, value in document.get(LOCAL_STACK_TABLE, {}).get("environment", {}).items():
        os.environ.setdefault(str(name), str(value))


def _table(name: str, options: Mapping[str, object]) -> str:
    header = json.dumps(name) if " " in name else name
    return f"[{header}]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in options.items())


def _value(value: object) -> str:
    """A TOML value: JSON's strings and integers are TOML's; a mapping is an inline table."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
