"""Every option is defined once: as a field of the settings dataclass that uses it.

A field declared with `setting(...)` is an option. Its name, type (the annotation), default,
validation and help live in that one declaration, and everything else is derived from it: the
click option of each command built from the dataclass (`chinook_pipeline/cli/options.py`), the
`CHINOOK_<NAME>` environment variable, the config-file key, the configuration reference (docs/configuration.md)
(`make docs`) and the check that runs whenever the dataclass is constructed, from the command
line or from code. A plain field (no `setting()`) is internal: code and tests may set it, users
cannot. Settings dataclasses are frozen and inherit `Settings`, which runs that check.

How to add an option: add one field to the dataclass the command is built from, e.g. in
ProducerSettings (producer/settings.py)

    give_up_after: float = setting(600.0, min=0, help="Seconds a permanent fault may last.")

and `chinook-pipeline producer` has `--give-up-after`, `CHINOOK_GIVE_UP_AFTER` and the config-file
key `give_up_after`, checked wherever the value comes from; run `make docs` for docs/configuration.md. The
option is named after the field (`flag="db"` renames it). Types: str, int, float, Path, bool (a
flag; `--x/--no-x` when the default is True) and `X | None`. Checks: `choices`, `min`/`max`,
`size` (a byte count written `16MiB`), `exists` (a path), `rule` (a function raising ValueError
with the message). `secret=True` keeps the value out of repr and help and adds `--x-file` /
`CHINOOK_X_FILE`. A setting several dataclasses share is a module-level `Setting` (e.g. `TOPIC`
in shared/kafka.py, `BUCKET` in shared/bucket_name.py) whose `.field()` each of them calls. A
check across settings goes in the dataclass's `__post_init__`, after `super().__post_init__()`.
A new command takes `@options_from(SomeSettings)` and builds `build(SomeSettings, params)`.
"""

import dataclasses
import functools
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

from chinook_shared.errors import PipelineError
from chinook_shared.units import format_size


class _Required:
    """The default of a setting that has none: the option is required."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
METADATA_KEY = "chinook.setting"
ENV_PREFIX = "CHINOOK_"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One option: its default, how it is checked and what it means."""

    default: Any = REQUIRED
    help: str = ""
    flag: str = ""  # the option's name when it is not the field's (`db` for `db_path`)
    choices: tuple[str, ...] = ()
    ignore_case: bool = False  # for choices: `sasl_ssl` is `SASL_SSL`
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # `min` itself is not allowed, only values above it
    size: bool = False  # an int of bytes, written `16MiB`, `512KB` or `1048576`
    secret: bool = False  # never printed; also read from `--<flag>-file`
    exists: bool = False  # a path that must exist
    directory: bool = False  # a Path-typed setting names a directory, not a file
    rule: Callable[[Any], None] | None = None  # raises ValueError saying what is wrong
    shown_default: str = ""  # what the help shows as default when that is not the value
    option: bool = True  # False: checked like the others, but not offered on the command line

    def field(self, **changes: Any) -> Any:
        """The dataclass field of this setting, with `changes` (e.g. another help) applied."""
        spec = dataclasses.replace(self, **changes) if changes else self
        default = dataclasses.MISSING if spec.required else spec.default
        return dataclasses.field(
            default=default, repr=not spec.secret, metadata={METADATA_KEY: spec}
        )

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` in a few words, or None when it will do."""
        if value is None:
            return "a value is required" if self.required else None
        if self.choices and not self._chosen(value):
            return f"must be one of {', '.join(self.choices)}, not {value!r}"
        if not self._in_range(value):
            return f"must be {self.range_text()}, not {self._show(value)}"
        if self.exists and not Path(value).exists():
            return f"{value} does not exist"
        if self.rule is not None:
            try:
                self.rule(value)
            except ValueError as error:
                return str(error)
        return None

    def range_text(self) -> str:
        """`between 1 and 64`, `at least 5MiB`, `more than 0`, `at most 9`."""
        low, high = self._show(self.min), self._show(self.max)
        if self.min is not None and self.max is not None and not self.min_open:
            return f"between {low} and {high}"
        parts = []
        if self.min is not None:
            parts.append(f"more than {low}" if self.min_open else f"at least {low}")
        if self.max is not None:
            parts.append(f"at most {high}")
        return " and ".join(parts)

    def _chosen(self, value: str) -> bool:
        if self.ignore_case:
            return value.lower() in {choice.lower() for choice in self.choices}
        return value in self.choices

    def _in_range(self, value: float) -> bool:
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            return False
        return self.max is None or value <= self.max

    def _show(self, value: float | None) -> str:
        if value is not None and self.size:
            return format_size(int(value))
        return f"{value:g}" if isinstance(value, float) else str(value)


def setting(default: Any = REQUIRED, **spec: Any) -> Any:
    """A dataclass field that is an option; see the module docstring."""
    return Setting(default, **spec).field()


def spec_of(field: dataclasses.Field[Any]) -> Setting | None:
    return field.metadata.get(METADATA_KEY)


def option_name(field: dataclasses.Field[Any], spec: Setting) -> str:
    """`--flush-age` for `flush_age`; `--db` for `db_path` declared with `flag="db"`."""
    return "--" + (spec.flag or field.name.replace("_", "-"))


def env_name(option: str) -> str:
    """`--bootstrap-servers` / `bootstrap_servers` -> `CHINOOK_BOOTSTRAP_SERVERS`."""
    return ENV_PREFIX + option.lstrip("-").replace("-", "_").upper()


def describe(field: dataclasses.Field[Any], spec: Setting) -> str:
    """How a user sets it: `--flush-age / CHINOOK_FLUSH_AGE`."""
    name = option_name(field, spec)
    return f"{name} / {env_name(name)}" if spec.option else field.name


def value_type(cls: type, field: dataclasses.Field[Any]) -> type:
    """The field's type with `| None` removed: `int` for `int | None`."""
    kind = _hints(cls)[field.name]
    if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
        (kind,) = [arg for arg in typing.get_args(kind) if arg is not NoneType]
    return typing.cast(type, kind)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def settings(cls: type) -> Iterator[tuple[dataclasses.Field[Any], Setting]]:
    """The fields of `cls` that are settings, in declaration order (nested dataclasses not)."""
    for field in dataclasses.fields(cls):
        spec = spec_of(field)
        if spec is not None:
            yield field, spec


def non_empty(value: str) -> None:
    """A rule: the text must not be empty or blank."""
    if not value.strip():
        raise ValueError("must not be empty")


class Settings:
    """Base of every settings dataclass: construction checks each setting against its definition.

    A subclass with a `__post_init__` of its own (a check across settings) calls this one first.
    """

    def __post_init__(self) -> None:
        for field, spec in settings(type(self)):
            problem = spec.problem(getattr(self, field.name))
            if problem:
                raise PipelineError(f"{describe(field, spec)}: {problem}")
