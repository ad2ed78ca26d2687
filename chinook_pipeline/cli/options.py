"""Click options generated from the settings dataclasses (shared/settings.py says how to define
one), and the settings built back from what click parsed.

Every option reads `CHINOOK_<NAME>` from the environment and click's `default_map` (the config
file), so flags beat env, env beats the config file, which beats the definition's default.
"""

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from chinook_shared.errors import PipelineError
from chinook_shared.settings import Setting, env_name, option_name, spec_of, value_type
from chinook_shared.units import format_size, parse_size

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
FILE_SUFFIX = "-file"


def option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """`click.option` with the `CHINOOK_*` environment variable derived from the long name."""
    long_name = next(name for name in names if name.startswith("--"))
    kwargs.setdefault("envvar", env_name(long_name.split("/")[0]))
    kwargs.setdefault("show_envvar", True)
    return click.option(*names, **kwargs)


def options_from(*classes: type) -> Callable[[F], F]:
    """One click option per setting of each dataclass, nested settings dataclasses included."""
    decorators = [decorator for cls in classes for decorator in _decorators(cls)]

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def build(cls: type[T], params: Mapping[str, Any], **given: Any) -> T:
    """An instance of `cls` from click's parsed `params`; `given` supplies fields directly.

    Construction validates every setting, so a bad combination raises PipelineError.
    """
    values = dict(given)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in values or not field.init:
            continue
        kind = value_type(cls, field)
        spec = spec_of(field)
        if dataclasses.is_dataclass(kind):
            values[field.name] = build(kind, params)  # type: ignore[arg-type]
        elif spec is not None and spec.option:
            values[field.name] = _value(field, spec, params)
    return cls(**values)


def _decorators(cls: type) -> Iterator[Callable[[F], F]]:
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = value_type(cls, field)
        spec = spec_of(field)
        if dataclasses.is_dataclass(kind):
            yield from _decorators(kind)  # type: ignore[arg-type]
        elif spec is not None and spec.option:
            yield _option(field, spec, kind)
            if spec.secret:
                yield _secret_file_option(field, spec)


def _option(field: dataclasses.Field[Any], spec: Setting, kind: type) -> Callable[[F], F]:
    name = option_name(field, spec)
    kwargs: dict[str, Any] = {"help": spec.help}
    if spec.required:
        kwargs["required"] = True
    else:  # a size as the user writes it: the help shows `16MiB`, not 16777216
        kwargs["default"] = format_size(spec.default) if spec.size else spec.default
        kwargs["show_default"] = spec.shown_default or (
            spec.default is not None and spec.default is not False
        )
    if kind is bool:
        declaration = f"{name}/--no-{name[2:]}" if spec.default else name
        return option(declaration, is_flag=True, **kwargs)
    if spec.secret:
        kwargs["help"] = (
            f"{spec.help} Never printed; prefer {env_name(name)} or {name}{FILE_SUFFIX} to the flag."
        )
    return option(name, type=_click_type(spec, kind), **kwargs)


def _secret_file_option(field: dataclasses.Field[Any], spec: Setting) -> Callable[[F], F]:
    name = option_name(field, spec)
    return option(
        name + FILE_SUFFIX,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"File holding {name} (e.g. a mounted secret); its content, trailing newline "
        "stripped, wins over the value.",
    )


def _click_type(spec: Setting, kind: type) -> click.ParamType:
    """The click type that parses the text; `Checked` adds what only the definition knows."""
    base: click.ParamType
    if spec.size:
        return Checked(ByteSize(), spec)
    if spec.choices:
        base = click.Choice(spec.choices, case_sensitive=not spec.ignore_case)
    elif kind in (int, float) and (spec.min is not None or spec.max is not None):
        range_type = click.IntRange if kind is int else click.FloatRange
        base = range_type(spec.min, spec.max, min_open=spec.min_open)
    elif kind is Path or spec.exists:
        base = click.Path(
            exists=spec.exists,
            file_okay=not spec.directory,
            dir_okay=spec.directory or kind is not Path,
            path_type=Path if kind is Path else None,
        )
    else:
        base = click.types.convert_type(kind)
    return Checked(base, spec) if spec.rule else base


class Checked(click.ParamType):
    """A click type followed by the setting's own check: one definition, one message."""

    def __init__(self, base: click.ParamType, spec: Setting) -> None:
        self.base, self.spec, self.name = base, spec, base.name

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return self.base.get_metavar(param, ctx)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        converted = self.base.convert(value, param, ctx)
        problem = self.spec.problem(converted)
        if problem:
            self.fail(problem, param, ctx)
        return converted


class ByteSize(click.ParamType):
    """A byte count: `1048576`, `512KB`, `16MiB`."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _value(field: dataclasses.Field[Any], spec: Setting, params: Mapping[str, Any]) -> Any:
    key = option_name(field, spec)[2:].replace("-", "_")
    secret_file = params.get(key + FILE_SUFFIX.replace("-", "_")) if spec.secret else None
    if secret_file:
        return _read_secret(Path(secret_file), option_name(field, spec) + FILE_SUFFIX)
    return params[key]


def _read_secret(path: Path, flag: str) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(
            f"cannot read {flag} {path}: {getattr(error, 'strerror', None) or error}"
        ) from None


def where(error: click.BadParameter) -> str:
    """Where the bad value came from, as the user wrote it: `--flush-age`, `CHINOOK_FLUSH_AGE`
    or `flush_age in the config file`."""
    param, ctx = error.param, error.ctx
    if param is None:
        return "invalid value"
    source = ctx.get_parameter_source(param.name) if ctx and param.name else None
    if source is ParameterSource.ENVIRONMENT and isinstance(param.envvar, str):
        return param.envvar
    if source is ParameterSource.DEFAULT_MAP:
        return f"{param.name} in the config file"
    if isinstance(param, click.Option):
        return " / ".join(param.opts)
    return param.human_readable_name
