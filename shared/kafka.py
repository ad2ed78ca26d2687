"""Kafka connection settings shared by both services, turned into librdkafka properties.

Only the Kafka protocol is relied on, so any compatible broker works (Bufstream, Apache Kafka,
Redpanda, the embedded Tansu).
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from chinook_shared.errors import PipelineError
from chinook_shared.settings import Setting, Settings, non_empty, setting

SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
    }
)
REDACTED = "***"
# librdkafka's own log lines, under this module's logger (`chinook_shared.kafka.librdkafka`)
LIBRDKAFKA_LOG = logging.getLogger(__name__).getChild("librdkafka")


TOPIC = Setting(
    "chinook.customers", help="Topic of change events.", rule=non_empty
)  # the producer's, the consumer's and dev's `--topic`
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


@dataclass(frozen=True)
class KafkaSettings(Settings):
    """How to reach the broker. `extra` passes any other librdkafka property through by name."""

    bootstrap_servers: str = setting(
        help="Kafka-compatible broker(s), HOST:PORT[,...].", rule=non_empty
    )
    security_protocol: str | None = setting(
        None,
        choices=SECURITY_PROTOCOLS,
        ignore_case=True,
        help="Broker connection security (librdkafka security.protocol).",
    )
    sasl_mechanism: str | None = setting(
        None, choices=SASL_MECHANISMS, ignore_case=True, help="SASL mechanism."
    )
    sasl_username: str | None = setting(None, help="SASL username.")
    sasl_password: str | None = setting(None, secret=True, help="SASL password.")
    ssl_ca_location: str | None = setting(None, exists=True, help="CA certificate(s) (PEM).")
    ssl_certificate_location: str | None = setting(
        None, exists=True, help="Client certificate (PEM)."
    )
    ssl_key_location: str | None = setting(None, exists=True, help="Client private key (PEM).")
    ssl_key_password: str | None = setting(
        None, secret=True, help="Password of an encrypted client private key."
    )
    ssl_verify_hostname: bool = setting(
        True, help="Check that the broker's certificate matches its host name."
    )
    extra: dict[str, str] = field(default_factory=dict)

    def client_properties(self) -> dict[str, Any]:
        """librdkafka properties for any client built from these settings."""
        properties: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            # librdkafka's own log lines go through Python logging, not straight to stderr.
            "logger": LIBRDKAFKA_LOG,
        }
        optional = {
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        properties.update({key: value for key, value in optional.items() if value is not None})
        if self.security_protocol and "ssl" in self.security_protocol.lower():
            properties["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_verify_hostname else "none"
            )
        properties.update(self.extra)
        return properties


def redact(properties: dict[str, Any]) -> dict[str, Any]:
    """A copy of librdkafka properties that is safe to log."""
    return {
        key: REDACTED if key in SECRET_KEYS else value
        for key, value in properties.items()
        if key != "logger"
    }


def admin_client(settings: KafkaSettings) -> AdminClient:
    """An admin client whose metadata requests never auto-create a topic (Tansu would, with its
    own default partition count)."""
    return AdminClient({**settings.client_properties(), "allow.auto.create.topics": False})


def ensure_topic(
    settings: KafkaSettings, topic: str, partitions: int, timeout: float = 30.0
) -> int:
    """Create `topic` if it does not exist; return its partition count."""
    admin = admin_client(settings)
    existing = _partition_count(admin, topic, timeout)
    if existing:
        return existing
    futures = admin.create_topics([NewTopic(topic, partitions, -1)], operation_timeout=timeout)
    try:
        futures[topic].result(timeout)
    except KafkaException as error:
        if error.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another process won the race
            raise PipelineError(f"cannot create topic {topic!r}: {error.args[0].str()}") from None
    return _partition_count(admin, topic, timeout) or partitions


def partition_count(settings: KafkaSettings, topic: str, timeout: float = 10.0) -> int:
    """The number of partitions of `topic`, 0 when it does not exist."""
    return _partition_count(admin_client(settings), topic, timeout)


def _partition_count(admin: AdminClient, topic: str, timeout: float) -> int:
    try:
        metadata = admin.list_topics(topic=topic, timeout=timeout)
    except KafkaException as error:
        raise PipelineError(
            f"cannot read metadata of topic {topic!r} from {admin}: {error}"
        ) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return 0
    return len(found.partitions)
