"""Sizes and durations as people write them: `16MiB`, `512KB`, `90s`, `12h`."""

import re
from datetime import timedelta

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
