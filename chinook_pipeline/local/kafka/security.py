"""The secured listeners of an embedded Kafka cluster: SSL, SASL_SSL (SCRAM-SHA-512) and
SASL_PLAINTEXT (PLAIN).

The broker's key and certificate come as a PKCS#12 keystore; SCRAM users are written into the
metadata log when storage is formatted (`--add-scram`), PLAIN users into the listener's JAAS
configuration. Only the tests build one (tests/integration/test_broker_security.py); `dev` and
the bench run PLAINTEXT.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Characters that would end a value early in `--add-scram`'s `[name=...,password=...]` or in the
# JAAS line's `user_NAME="PASSWORD"`.
_UNQUOTABLE = frozenset('"\\,[]= \t\n')
SCRAM = "SCRAM-SHA-512"
LISTENERS = ("SSL", "SASL_SSL", "SASL_PLAINTEXT")


@dataclass(frozen=True)
class Security:
    """The broker's keystore and the users each SASL listener accepts (passwords kept out of
    repr, which test failures print)."""

    keystore: Path
    keystore_password: str = field(repr=False)
    scram_users: Mapping[str, str] = field(default_factory=dict, repr=False)
    plain_users: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for users in (self.scram_users, self.plain_users):
            for name, password in users.items():
                if _UNQUOTABLE & set(name + password):
                    raise ValueError(
                        f"user {name!r}: names and passwords of the embedded broker's users may "
                        "not hold quotes, backslashes, commas, brackets, '=' or white space"
                    )

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
