"""What the figures measured: each figure's values, the counts behind them, the failed steps."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Results:
    """Values per figure (`runs`, one per run), the counts behind each (`details`) and the steps
    that failed (`errors`), for the figures of `units` (figure -> unit)."""

    units: Mapping[str, str]
    runs: dict[str, list[float]] = field(init=False)
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runs = {figure: [] for figure in self.units}

    def add(self, figure: str, value: float, detail: Mapping[str, Any]) -> str:
        """Keep one run's value of `figure`; the line that shows it."""
        self.runs[figure].append(value)
        self.details.setdefault(figure, []).append(dict(detail))
        return f"  {figure}: {format_number(value)} {self.units[figure]}"


def format_number(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.3f}"
