"""One bench run as the figures see it: the settings, the running stack, and where values go.

Every figure is a function of a `Session` (and of what earlier figures handed it, such as the
topic the producer filled); the order they run in is `figures`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chinook_pipeline.bench.results import Results
from chinook_pipeline.bench.settings import BenchSettings
from chinook_pipeline.bench.stack import Stack
from chinook_shared.errors import PipelineError

T = TypeVar("T")


@dataclass(frozen=True)
class Session:
    settings: BenchSettings
    stack: Stack
    results: Results
    say: Callable[[str], None]

    def record(self, figure: str, value: float, **detail: Any) -> None:
        """One run's value of `figure`, with the counts behind it; printed as it comes."""
        self.say(self.results.add(figure, value, detail))

    def attempt(self, step: str, measure: Callable[..., T], *args: Any) -> T | None:
        """Run one measurement; a failure is recorded (and printed) instead of ending the bench."""
        try:
            return measure(*args)
        except Exception as error:
            message = (
                f"{step}: {error}"
                if isinstance(error, PipelineError)
                else f"{step}: {type(error).__name__}: {error}"
            )
            self.results.errors.append(message)
            self.say(f"  FAILED {message}")
            return None
