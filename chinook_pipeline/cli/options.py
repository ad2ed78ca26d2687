"""Click options shared by several commands. Every option reads `CHINOOK_<NAME>` from the
environment, so flags beat env, env beats the config file (click's `default_map`)."""

from collections.abc import Callable
from typing import Any, TypeVar

import click

from shared.config import env_name, parse_size

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TOPIC = "chinook.customers"


def option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """`click.option` with the `CHINOOK_*` environment variable derived from the long name."""
    long_name = next(name for name in names if name.startswith("--"))
    kwargs.setdefault("envvar", env_name(long_name.split("/")[0]))
    kwargs.setdefault("show_envvar", True)
    if "default" in kwargs and not kwargs.get("hide_input"):
        kwargs.setdefault("show_default", True)
    return click.option(*names, **kwargs)


class ByteSize(click.ParamType):
    """A byte count: `1048576`, `512KB`, `16MiB`."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            size = parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        if size <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return size


def compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


kafka_options = compose(
    option(
        "--bootstrap-servers", required=True, help="Kafka-compatible broker(s), HOST:PORT[,...]."
    ),
    option("--topic", default=DEFAULT_TOPIC, help="Topic of change events."),
    option(
        "--security-protocol",
        type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], case_sensitive=False),
        help="Broker connection security (librdkafka security.protocol).",
    ),
    option(
        "--sasl-mechanism",
        type=click.Choice(
            ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"], case_sensitive=False
        ),
        help="SASL mechanism.",
    ),
    option("--sasl-username", help="SASL username."),
    option(
        "--sasl-password",
        help="SASL password; prefer the environment variable or --sasl-password-file. Never printed.",
    ),
    option(
        "--sasl-password-file",
        type=click.Path(exists=True, dir_okay=False),
        help="File holding the SASL password (e.g. a mounted secret).",
    ),
    option("--ssl-ca-location", type=click.Path(exists=True), help="CA certificate(s) (PEM)."),
    option(
        "--ssl-certificate-location", type=click.Path(exists=True), help="Client certificate (PEM)."
    ),
    option("--ssl-key-location", type=click.Path(exists=True), help="Client private key (PEM)."),
    option(
        "--ssl-verify-hostname/--no-ssl-verify-hostname",
        default=True,
        help="Check that the broker's certificate matches its host name.",
    ),
    option(
        "--kafka-property",
        "kafka_property",
        multiple=True,
        metavar="KEY=VALUE",
        envvar=None,
        show_envvar=False,
        help="Any librdkafka property, repeatable. Also CHINOOK_KAFKA__<NAME> (e.g. "
        "CHINOOK_KAFKA__LINGER_MS) and a [kafka] table in the config file.",
    ),
)

metrics_options = compose(
    option(
        "--metrics-host",
        default="127.0.0.1",
        help="Address the /metrics and /healthz endpoint binds to.",
    ),
    option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        help="Port of /metrics and /healthz (0 picks a free port).",
    ),
    option(
        "--log-level",
        default="INFO",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        help="Log verbosity.",
    ),
)

s3_options = compose(
    option(
        "--s3-endpoint-url",
        help="S3 endpoint (MinIO, moto); overrides AWS_ENDPOINT_URL_S3. Credentials come from the "
        "standard AWS chain.",
    ),
    option(
        "--s3-region", help="S3 region; defaults to the AWS chain (AWS_DEFAULT_REGION, profile)."
    ),
)
