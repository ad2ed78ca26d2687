"""The secured listeners of an embedded Kafka cluster: SSL, SASL_SSL (SCRAM-SHA-512) and
SASL_PLAINTEXT (PLAIN).

The broker's key and certificate come as a PKCS#12 keystore; SCRAM users are written into the
metadata log when storage is formatted (`--add-scram`), PLAIN users into the listener's JAAS
configuration. Only the tests and the TLS demo build one; `dev` runs PLAINTEXT.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCRAM = "SCRAM-SHA-512"
LISTENERS = ("SSL", "SASL_SSL", "SASL_PLAINTEXT")


@dataclass(frozen=True)
class Security:
    keystore: Path
    keystore_password: str
    scram_users: Mapping[str, str] = field(default_factory=dict)
    plain_users: Mapping[str, str] = field(default_factory=dict)

    @property
    def listeners(self) -> tuple[str, ...]:
        return LISTENERS

    def broker_properties(self) -> dict[str, str]:
        plain = " ".join(f'user_{name}="{password}"' for name, password in self.plain_users.items())
        return {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.client.auth": "none",
            "sasl.enabled.mechanisms": f"{SCRAM},PLAIN",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": SCRAM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};"
            ),
        }

    def format_arguments(self) -> list[str]:
        arguments: list[str] = []
        for name, password in self.scram_users.items():
            arguments += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
        return arguments
