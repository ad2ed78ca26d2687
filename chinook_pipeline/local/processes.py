"""The services as child processes (`dev`, `bench`, the fault tests), and stopping on signals.

A child is `python -m chinook_pipeline ARGS`, exactly as a user runs it, with its output in a log
file and dying with its parent (`embedded.spawn`). It is reaped with wait4, so that `Child` also
knows its wall time and peak RSS.
"""

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from types import FrameType
from typing import Final, Self, TypeVar

from chinook_pipeline.local import embedded
from chinook_pipeline.local.scrape import healthz, scrape
from chinook_shared import names
from chinook_shared.errors import PipelineError

log = logging.getLogger(__name__)

# Seconds a working pipeline needs at most to publish, upload and commit what it holds.
DRAIN_TIMEOUT: Final = 120.0
# Seconds a service gets after SIGTERM to flush and commit, before SIGKILL.
STOP_TIMEOUT: Final = 60.0
LAG_SETTLED: Final = 2.0  # the lag gauge is refreshed every second: 0 twice in a row is current
TAIL_LINES: Final = 15
T = TypeVar("T")


def stop_on_signals(stop: threading.Event, announce: Callable[[str], None]) -> None:
    """SIGINT and SIGTERM call `announce(signal name)` and set `stop`.

    A second signal while stopping ends the process at once (exit 130) without waiting for the
    graceful path: what was not committed is replayed on the next start.
    """

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("second %s: exiting without waiting", name)
            raise SystemExit(130)
        announce(name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log, for an error message."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) if text else "(empty log)"


def wait_for(
    probe: Callable[[], T | None], timeout: float = DRAIN_TIMEOUT, interval: float = 0.2
) -> T | None:
    """Poll `probe` until it returns something other than None; None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result is not None:
            return result
        time.sleep(interval)
    return None


def high_water_rss(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, bytes; 0 once it is gone).

    Not wait4's ru_maxrss: Linux carries that across fork and exec, so a child forked from a
    large parent (the bench) would report the parent's size."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Child:
    """A `chinook-pipeline` process; once reaped, its exit code, wall time and peak RSS."""

    name: str
    process: Popen[bytes]
    log: Path
    metrics_url: str = ""
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    peak_rss: int = 0

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        metrics: bool = False,
        new_session: bool = True,
    ) -> Self:
        """Start `python -m chinook_pipeline ARGS`, its output in `<log_dir>/<name>.log`.

        With `metrics`, a service gets a free `--metrics-port` and the child its /metrics URL.
        `new_session` keeps a terminal's Ctrl-C from reaching it (its parent stops it).
        """
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        port = embedded.free_port() if metrics else None
        argv = [sys.executable, "-m", "chinook_pipeline", *args]
        if port:
            argv += ["--metrics-port", str(port)]
        started = time.monotonic()
        process = embedded.spawn(argv, env=env, log=log_path, new_session=new_session)
        url = f"http://127.0.0.1:{port}/metrics" if port else ""
        return cls(name, process, log_path, url, started)

    def metrics(self, timeout: float = 2.0) -> dict[str, float]:
        """Its /metrics, summed over label sets; empty while it is not answering."""
        return scrape(self.metrics_url, timeout) if self.metrics_url else {}

    def health(self, timeout: float = 2.0) -> tuple[str, list[str]]:
        """Its /healthz: (status, reasons); ("down", []) while it is not answering."""
        if not self.metrics_url:
            return "down", []
        return healthz(self.metrics_url.removesuffix("/metrics") + "/healthz", timeout)

    def running(self) -> bool:
        """False once it has exited (then reaped, with its exit code, wall time and peak RSS)."""
        if self.process.returncode is not None:
            return False
        self.peak_rss = max(self.peak_rss, high_water_rss(self.process.pid))
        pid, status, _usage = os.wait4(self.process.pid, os.WNOHANG)
        if not pid:
            return True
        self.elapsed = time.monotonic() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return False

    def wait(self, timeout: float) -> Self:
        """Wait for exit; PipelineError (with the log's tail) unless it exits 0 within `timeout`."""
        deadline = self.started + timeout
        while self.running():
            if time.monotonic() > deadline:
                embedded.stop(self.process)
                raise PipelineError(
                    f"{self.name} did not finish within {timeout:.0f}s: see {self.log}"
                )
            time.sleep(0.01)
        if self.process.returncode != 0:
            raise PipelineError(
                f"{self.name} exited with code {self.process.returncode}: see {self.log}: "
                f"{tail(self.log, 1)}"
            )
        return self

    def catch_up(self, timeout: float, settled: float = LAG_SETTLED) -> bool:
        """Wait until this consumer's lag gauge has read 0 for `settled` seconds (it refreshes
        every second), at most `timeout` seconds; False when it exited meanwhile."""
        deadline, settled_at = time.monotonic() + timeout, None
        while self.running() and time.monotonic() < deadline:
            now = time.monotonic()
            if self.metrics().get(names.CONSUMER_LAG, 1) != 0:
                settled_at = None
            elif settled_at is None:
                settled_at = now
            elif now - settled_at >= settled:
                break
            time.sleep(0.2)
        return self.running()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (graceful: flush and commit), SIGKILL past `timeout`; the exit code."""
        return embedded.stop(self.process, timeout)
