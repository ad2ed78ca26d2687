"""The one line a service exits with when the broker refuses it, from librdkafka's own reports
(their texts as librdkafka 2.x words them against Apache Kafka 4.1, copied from real runs)."""

from dataclasses import replace

import pytest
from confluent_kafka import KafkaError, KafkaException

from chinook_shared.broker_check import (
    CA_FIX,
    PASSWORD_FIX,
    TLS_FIX,
    Seen,
    refusal,
    scrub,
    unreachable,
)
from chinook_shared.kafka import KafkaSettings

PASSWORD = "s3cret-Pw-1"
SCRAM = KafkaSettings(
    "127.0.0.1:9094",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="chinook",
    sasl_password=PASSWORD,
)
SSL = KafkaSettings("127.0.0.1:9093", security_protocol="SSL")
PLAINTEXT = KafkaSettings("127.0.0.1:9093")
TIMED_OUT = KafkaException(
    KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure")
)


def error(code: int, text: str) -> KafkaError:
    return KafkaError(code, text)


def test_a_refused_login_names_the_user_and_the_password_settings() -> None:
    refused = error(
        KafkaError._AUTHENTICATION,
        "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed "
        "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 "
        "(after 358ms in state AUTH_REQ)",
    )
    line = refusal(refused, SCRAM)
    assert line == (
        "the Kafka broker at 127.0.0.1:9094 refused the SCRAM-SHA-512 login of user 'chinook' "
        "(SASL authentication error: Authentication failed during authentication due to invalid "
        f"credentials with SASL mechanism SCRAM-SHA-512): {PASSWORD_FIX}"
    )


def test_a_mechanism_the_listener_does_not_offer() -> None:
    refused = error(
        KafkaError._AUTHENTICATION,
        "sasl_ssl://127.0.0.1:9094/bootstrap: SASL SCRAM-SHA-256 mechanism handshake failed: "
        "Broker: Unsupported SASL mechanism: broker's supported mechanisms: SCRAM-SHA-512 "
        "(after 2ms in state AUTH_HANDSHAKE)",
    )
    sha256 = replace(SCRAM, sasl_mechanism="SCRAM-SHA-256")
    assert refusal(refused, sha256).endswith(
        "does not offer SASL mechanism SCRAM-SHA-256 (it offers SCRAM-SHA-512): fix "
        "--sasl-mechanism"
    )


def test_sasl_on_a_listener_without_sasl() -> None:
    refused = error(
        KafkaError._AUTHENTICATION,
        "sasl_plaintext://127.0.0.1:9092/bootstrap: SASL PLAIN mechanism handshake failed: Broker: "
        "Request not valid in current SASL state: broker's supported mechanisms: (after 1ms in "
        "state AUTH_HANDSHAKE)",
    )
    assert "does not take SASL logins: set --security-protocol PLAINTEXT or SSL" in refusal(
        refused, SCRAM
    )


def test_an_untrusted_certificate_points_at_the_ca_setting() -> None:
    failed = error(
        KafkaError._SSL,
        "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
        "certificate verify failed: broker certificate could not be verified, verify that "
        "ssl.ca.location is correctly configured or root CA certificates are installed (install "
        "ca-certificates package) (after 12ms in state SSL_HANDSHAKE)",
    )
    assert refusal(failed, SSL) == (
        "the Kafka broker's certificate at 127.0.0.1:9093 is not trusted (SSL handshake failed: "
        f"error:0A000086:SSL routines::certificate verify failed): {CA_FIX}"
    )
    other = error(
        KafkaError._SSL,
        "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000410:SSL routines::"
        "sslv3 alert handshake failure (after 5ms in state SSL_HANDSHAKE)",
    )
    assert refusal(other, SSL).endswith(f"sslv3 alert handshake failure): {TLS_FIX}")


def test_only_refusals_and_tls_failures_end_the_wait_at_once() -> None:
    seen = Seen()
    seen.error(error(KafkaError._TRANSPORT, "connection refused"))
    seen.error(error(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert seen.permanent() is None
    seen.error(
        error(KafkaError._SSL, "ssl://b:9093/bootstrap: SSL transport error: Connection reset")
    )
    assert seen.permanent() is None, "a reset during the handshake may clear by itself"
    seen.error(error(KafkaError._SSL, "SSL handshake failed: error:0A000086:SSL routines::x"))
    assert seen.permanent() is not None and seen.permanent().code() == KafkaError._SSL


def log_line(text: str) -> str:
    return f"FAIL [rdkafka#producer-1] [thrd:127.0.0.1:9093/bootstrap]: {text}"


@pytest.mark.parametrize(
    "settings", [PLAINTEXT, replace(SCRAM, security_protocol="SASL_PLAINTEXT")]
)
def test_plaintext_on_a_tls_listener(settings: KafkaSettings) -> None:
    seen = Seen()
    closed = "127.0.0.1:9093/bootstrap: Disconnected: connection closed by peer: receive 0 after "
    seen.log(6, "%s", log_line(closed + "POLLIN (after 1ms in state APIVERSION_QUERY)"))
    line = unreachable(TIMED_OUT, seen, settings)
    assert "closed every" in line and "set --security-protocol SSL or SASL_SSL" in line
    # A TLS client whose connections are closed is not told to use TLS.
    assert "closed every" not in unreachable(TIMED_OUT, seen, SSL)


def test_tls_on_a_plaintext_listener() -> None:
    seen = Seen()
    seen.log(
        3,
        log_line(
            "ssl://127.0.0.1:9092/bootstrap: SSL handshake failed: Disconnected: SSL connection "
            "closed by peer: connecting to a PLAINTEXT broker listener? (after 2ms in state "
            "SSL_HANDSHAKE)"
        ),
    )
    assert "does not speak TLS: set --security-protocol PLAINTEXT or SASL_PLAINTEXT" in (
        unreachable(TIMED_OUT, seen, SSL)
    )


def test_no_broker_names_the_last_connection_failure() -> None:
    seen = Seen()
    seen.log(7, "%s [%s] %s", "CONNECT", "rdkafka#producer-1", "connecting")
    seen.log(
        3,
        log_line(
            "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
            "(after 0ms in state CONNECT)"
        ),
    )
    assert unreachable(TIMED_OUT, seen, PLAINTEXT) == (
        "cannot reach the Kafka broker at 127.0.0.1:9093 (Connect to ipv4#127.0.0.1:1 failed: "
        "Connection refused): start the broker or fix --bootstrap-servers / "
        "CHINOOK_BOOTSTRAP_SERVERS"
    )
    assert "(Failed to get metadata" in unreachable(TIMED_OUT, Seen(), PLAINTEXT)


def test_a_secret_echoed_in_a_reason_is_hidden() -> None:
    assert scrub(f"bad login {PASSWORD}!", SCRAM) == "bad login ***!"
