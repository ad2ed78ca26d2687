"""Whether this group member owns partitions, and what it means when it has owned none too long.

A member can be left without partitions for good: more members than partitions, or a broker that
stops assigning (on Tansu, a group whose members all left at the same moment assigns nothing to
the next member of that group). Without a bound such a member looks healthy forever; past
`bound` seconds it reports `degraded` (health name `assignment`), and with `exit_when_idle` it
gives up instead of waiting forever.
"""

import logging
from collections.abc import Callable

from chinook_shared.errors import PipelineError
from chinook_shared.health import Health

log = logging.getLogger(__name__)


class Ownership:
    """Counts from the subscription: a member owns nothing until its first assignment."""

    def __init__(
        self,
        *,
        bound: float,
        clock: Callable[[], float],
        health: Health,
        what: str,
        exit_when_idle: bool = False,
    ) -> None:
        self._bound, self._clock, self._health, self._what = bound, clock, health, what
        self._exit_when_idle = exit_when_idle
        self._since: float | None = clock()
        self._reported = False

    def update(self, owned: int) -> None:
        """Record how many partitions are owned now.

        Raises PipelineError with `exit_when_idle` once none was owned for the bound.
        """
        now = self._clock()
        if owned:
            self._since = None
            if self._reported:
                self._health.recover("assignment")
                self._reported = False
            return
        if self._since is None:
            self._since = now
        idle = now - self._since
        if idle < self._bound:
            return
        reason = (
            f"{self._what} has owned no partition for {idle:.0f}s: the group has more members "
            "than the topic has partitions, or the broker is not assigning them"
        )
        if self._exit_when_idle:
            raise PipelineError(f"{reason}; --exit-when-idle gives up: restart it")
        if not self._reported:
            log.warning("%s", reason)
            self._reported = True
        self._health.degrade("assignment", reason)
