"""Query results as text: an aligned table for people, CSV or JSON lines for scripts."""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain
from typing import Any, Final

OUTPUTS: Final = ("table", "csv", "json")
NULL: Final = "NULL"


def render(columns: Sequence[str], rows: Iterable[Sequence[Any]], output: str) -> Iterator[str]:
    """The lines of `rows` in `output` form (one of OUTPUTS); csv and json stream row by row."""
    if output == "csv":
        return _csv(columns, rows)
    if output == "json":
        return (
            json.dumps(dict(zip(columns, row, strict=True)), default=_json, ensure_ascii=False)
            for row in rows
        )
    return _table(columns, list(rows))


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """A header, then a line per row; NULL is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    for row in chain([columns], ([_text(value, "") for value in row] for row in rows)):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _table(columns: Sequence[str], rows: list[Sequence[Any]]) -> Iterator[str]:
    cells = [[_text(value, NULL) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    numeric = [
        bool(rows)
        and all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    yield line(columns)
    yield line(["-" * width for width in widths])
    yield from (line(row) for row in cells)
    yield f"({len(rows)} row{'' if len(rows) == 1 else 's'})"


def _text(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, datetime):  # milliseconds when that loses nothing (capture times)
        precision = "microseconds" if value.microsecond % 1000 else "milliseconds"
        return value.isoformat(sep=" ", timespec=precision)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    """JSON for what `json` cannot write itself: dates and times in ISO 8601, decimals as text."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
