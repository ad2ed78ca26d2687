"""The check both services make before anything else: can the broker be used with these settings,
and if not, what to fix, in one line.

librdkafka retries a refused SASL login or a failed TLS handshake for ever and tells the caller
only "Broker transport failure"; the reason reaches its error and log callbacks. The check reads
those: a login the broker refused or a certificate that cannot be verified ends it at once
(waiting cannot fix either); anything else is waited out for `timeout`, then named. A client
speaking plaintext to a TLS listener sees only connections closed before the broker answers, so
that is named as the likely cause. Secret values never reach the message.
"""

import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from chinook_shared.errors import PipelineError
from chinook_shared.kafka import REDACTED, SECRET_KEYS, KafkaSettings

PROBE_INTERVAL: Final = 1.0  # seconds per metadata request: how soon a refused login is seen
PASSWORD_FIX: Final = (
    "fix the password (CHINOOK_SASL_PASSWORD or --sasl-password-file), --sasl-username or "
    "--sasl-mechanism"
)
CA_FIX: Final = (
    "point --ssl-ca-location / CHINOOK_SSL_CA_LOCATION at the CA that signed it, and name the "
    "broker in --bootstrap-servers as its certificate does"
)
TLS_FIX: Final = (
    "check --ssl-ca-location, --ssl-certificate-location, --ssl-key-location and "
    "--security-protocol"
)
# `ssl://127.0.0.1:9093/bootstrap: ` before librdkafka's reason, `(after 3ms in state X)` after.
_BROKER_PREFIX = re.compile(r"^(?:\w+://)?[^\s/]+/\w+: ")
_TIMING = re.compile(r"\s*\(after \d+ms in state \w+\)$")
_CLOSED_BEFORE_ANSWER = re.compile(r"connection closed by peer.*in state APIVERSION_QUERY")
_OPENSSL_ERROR = re.compile(r"error:[0-9A-F]{8}:")
_OFFERED = re.compile(r"Unsupported SASL mechanism: broker's supported mechanisms: (\S+)")
_PLAINTEXT_LISTENER = "connecting to a PLAINTEXT broker listener?"


@dataclass
class Seen:
    """What librdkafka reported while the check waited: its errors and its log lines."""

    errors: list[KafkaError] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def error(self, error: KafkaError) -> None:
        self.errors.append(error)

    def log(self, _level: int, message: str, *args: Any) -> None:
        """The `logging.Logger.log` signature librdkafka's log callback calls."""
        self.lines.append(message % args if args else message)

    def permanent(self) -> KafkaError | None:
        """A refused login, or a TLS handshake OpenSSL rejected (`error:0A000086:...`); not a
        connection reset during the handshake, which librdkafka reports as an SSL error too."""
        return next((e for e in self.errors if _permanent(e)), None)


def _permanent(error: KafkaError) -> bool:
    code = error.code()
    openssl = _OPENSSL_ERROR.search(error.str()) is not None
    return code == KafkaError._AUTHENTICATION or (code == KafkaError._SSL and openssl)


def check_broker(settings: KafkaSettings, timeout: float = 10.0) -> None:
    """Raise PipelineError, naming what to fix, unless the broker answers a metadata request
    within `timeout`. librdkafka's own lines are collected, not logged: the error says it all."""
    seen = Seen()
    properties = {**settings.client_properties(), "error_cb": seen.error, "logger": seen}
    try:
        admin = AdminClient(properties)
    except KafkaException as error:
        raise PipelineError(
            scrub(f"cannot set up the Kafka client ({_reason(error)}): {TLS_FIX}", settings)
        ) from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=max(0.1, min(PROBE_INTERVAL, deadline - time.monotonic())))
            return
        except KafkaException as error:
            admin.poll(0)  # serves the error and log callbacks
            refused = seen.permanent()
            if refused is not None:
                raise PipelineError(scrub(refusal(refused, settings), settings)) from None
            if time.monotonic() >= deadline:
                raise PipelineError(scrub(unreachable(error, seen, settings), settings)) from None


def refusal(error: KafkaError, settings: KafkaSettings) -> str:
    """The line for a refused login or a failed TLS handshake (`Seen.permanent()`)."""
    where = settings.bootstrap_servers
    reason = _clean(error.str())
    if "Request not valid in current SASL state" in reason:
        return (
            f"the Kafka listener at {where} does not take SASL logins: set --security-protocol "
            "PLAINTEXT or SSL, or point --bootstrap-servers at its SASL listener"
        )
    offered = _OFFERED.search(reason)
    if offered:
        return (
            f"the Kafka listener at {where} does not offer SASL mechanism "
            f"{settings.sasl_mechanism} (it offers {offered.group(1)}): fix --sasl-mechanism"
        )
    if error.code() == KafkaError._AUTHENTICATION:
        return (
            f"the Kafka broker at {where} refused the {settings.sasl_mechanism or 'SASL'} login "
            f"of user {settings.sasl_username!r} ({reason}): {PASSWORD_FIX}"
        )
    if "certificate verify failed" in reason:
        reason = reason.split(": broker certificate could not be verified")[0]
        return f"the Kafka broker's certificate at {where} is not trusted ({reason}): {CA_FIX}"
    return f"TLS handshake with the Kafka broker at {where} failed ({reason}): {TLS_FIX}"


def unreachable(error: KafkaException, seen: Seen, settings: KafkaSettings) -> str:
    """The line for a broker that never answered: a listener of the other kind (TLS or not)
    when librdkafka's lines show one, else the last connection failure."""
    where = settings.bootstrap_servers
    protocol = (settings.security_protocol or "PLAINTEXT").upper()
    if any(_PLAINTEXT_LISTENER in line for line in seen.lines):
        return (
            f"the Kafka listener at {where} does not speak TLS: set --security-protocol "
            "PLAINTEXT or SASL_PLAINTEXT, or point --bootstrap-servers at its TLS listener"
        )
    if "SSL" not in protocol and any(_CLOSED_BEFORE_ANSWER.search(line) for line in seen.lines):
        return (
            f"the Kafka broker at {where} closed every {protocol} connection before answering, "
            "as a TLS listener does: set --security-protocol SSL or SASL_SSL (with "
            "--ssl-ca-location), or point --bootstrap-servers at a plaintext listener"
        )
    failures = [line for line in seen.lines if line.startswith("FAIL ")]
    last = _clean(failures[-1]) if failures else _reason(error)
    return (
        f"cannot reach the Kafka broker at {where} ({last}): start the broker or fix "
        "--bootstrap-servers / CHINOOK_BOOTSTRAP_SERVERS"
    )


def _reason(error: KafkaException) -> str:
    return (
        error.args[0].str() if error.args and isinstance(error.args[0], KafkaError) else str(error)
    )


def _clean(text: str) -> str:
    """librdkafka's reason without the broker's address in front or the timing behind."""
    text = text.split("]: ", 1)[-1]  # a log line's `FAIL [rdkafka#producer-1] [thrd:...]: `
    return _TIMING.sub("", _BROKER_PREFIX.sub("", text)).strip()


def scrub(text: str, settings: KafkaSettings) -> str:
    """The text with every secret value of the configuration replaced, whatever echoed it."""
    for key, value in settings.client_properties().items():
        if key in SECRET_KEYS and isinstance(value, str) and value:
            text = text.replace(value, REDACTED)
    return text
