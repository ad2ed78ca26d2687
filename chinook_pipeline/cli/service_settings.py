"""The settings every long-lived service has, defined once (see shared/settings.py); apart from
runner.py so the command line can list them without importing the metrics server."""

from dataclasses import dataclass

from chinook_shared.settings import Settings, setting


@dataclass(frozen=True)
class ServiceSettings(Settings):
    """How a long-lived service reports: its metrics endpoint and its log verbosity.

    The port has no default, so services started side by side (tests, `dev`) never clash; the
    Docker image sets CHINOOK_METRICS_PORT=9100, where its HEALTHCHECK looks.
    """

    metrics_host: str = setting(
        "127.0.0.1", help="Address the /metrics and /healthz endpoint binds to."
    )
    metrics_port: int | None = setting(
        None,
        min=0,
        max=65535,
        shown_default="none: no endpoint",
        help="Port of /metrics and /healthz (0 picks a free port).",
    )
    log_level: str = setting(
        "INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        ignore_case=True,
        help="Log verbosity.",
    )
