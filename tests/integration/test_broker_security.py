"""Both services through each secured listener of a real Kafka broker, and the one-line errors
of a wrong password, an untrusted CA and a plaintext client on a TLS port.

One broker for the module: a KRaft node with SSL, SASL_SSL (SCRAM-SHA-512, its user created when
storage is formatted) and SASL_PLAINTEXT (PLAIN) listeners, its certificate signed by a CA made
here (tests/tls.py). Clients dial 127.0.0.1 with host name verification on. The options are the
ones docs/aws.md documents; every password comes from the environment or a file, and is looked
for in everything the processes print and in the broker's log.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from chinook_pipeline.local import kafka
from chinook_pipeline.local.kafka.security import Security
from tests.conftest import Cli
from tests.tls import make_authority, make_broker_keystore

USER = "chinook"
SCRAM_PASSWORD = "scram-Pw-4Qz81"
PLAIN_PASSWORD = "plain-Pw-7Hk23"
WRONG_PASSWORD = "wrong-Pw-0Lm55"
KEYSTORE_PASSWORD = "keystore-Pw-9Xc"
SECRETS = (SCRAM_PASSWORD, PLAIN_PASSWORD, WRONG_PASSWORD, KEYSTORE_PASSWORD)
CUSTOMERS = "300"
BOUND = 60.0  # seconds any failing start may take, far above the 10 s broker check


@dataclass(frozen=True)
class Secured:
    """The running broker, the CA that signed its certificate, and one that did not."""

    cluster: kafka.Cluster
    ca: Path
    other_ca: Path
    work: Path

    def client_args(self, listener: str, password_file: Path | None = None) -> list[str]:
        """The connection options for one listener (the password, if any, from `password_file`
        or from CHINOOK_SASL_PASSWORD)."""
        servers = ["--bootstrap-servers", self.cluster.servers(listener)]
        tls = ["--ssl-ca-location", str(self.ca)]
        sasl = ["--sasl-username", USER]
        if password_file is not None:
            sasl += ["--sasl-password-file", str(password_file)]
        return {
            "SSL": [*servers, "--security-protocol", "SSL", *tls],
            "SASL_SSL": [
                *servers,
                "--security-protocol",
                "SASL_SSL",
                "--sasl-mechanism",
                "SCRAM-SHA-512",
                *sasl,
                *tls,
            ],
            "SASL_PLAINTEXT": [
                *servers,
                "--security-protocol",
                "SASL_PLAINTEXT",
                "--sasl-mechanism",
                "PLAIN",
                *sasl,
            ],
        }[listener]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("secured-kafka")
    ca = make_authority(work, "ca")
    other = make_authority(work, "other-ca")
    keystore = make_broker_keystore(ca, work / "broker.p12", KEYSTORE_PASSWORD)
    security = Security(
        keystore,
        KEYSTORE_PASSWORD,
        scram_users={USER: SCRAM_PASSWORD},
        plain_users={USER: PLAIN_PASSWORD},
    )
    cluster = kafka.start_cluster(work / "kafka", security=security)
    yield Secured(cluster, ca.pem, other.pem, work)
    cluster.stop()


def secret_file(directory: Path, password: str) -> Path:
    path = directory / "kafka-password"
    path.write_text(password + "\n")
    return path


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, f"a password was printed:\n{output}"


@pytest.mark.parametrize("listener", ["SSL", "SASL_SSL", "SASL_PLAINTEXT"])
def test_the_pipeline_runs_through_each_listener(
    listener: str, secured: Secured, cli: Cli, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", CUSTOMERS)
    cli.run("write", "--db", str(db), "--rate", "200", "--duration", "0.5")
    password_file = None
    if listener == "SASL_SSL":
        password_file = secret_file(tmp_path, SCRAM_PASSWORD)  # --sasl-password-file
    elif listener == "SASL_PLAINTEXT":
        cli.env["CHINOOK_SASL_PASSWORD"] = PLAIN_PASSWORD  # the environment
    connection = [*secured.client_args(listener, password_file), "--topic", topic]
    produced, consumed = cli.produce_and_consume(db, connection, bucket, f"{topic}-sink")
    verified = cli.run("verify", "--db", str(db), "--bucket", bucket)
    assert verified.stdout.startswith("OK"), verified.stdout
    assert f'"security.protocol": "{listener}"' in produced.stderr, "the listener was not used"
    outputs = [r.stdout + r.stderr for r in (produced, consumed, verified)]
    assert_no_secret(*outputs, secured.cluster.nodes[0].log.read_text())


# What each misconfigured client's one error line must name.
FIXES = {
    "wrong SCRAM password": "refused the SCRAM-SHA-512 login of user 'chinook'",
    "wrong PLAIN password": "refused the PLAIN login of user 'chinook'",
    "untrusted CA": "--ssl-ca-location",
    "plaintext client on the TLS port": "set --security-protocol SSL",
}


def misconfigured(case: str, secured: Secured, cli: Cli, directory: Path) -> list[str]:
    """The connection options of one misconfigured client (its password put where the
    docs/operations.md says: a file for SCRAM, the environment for PLAIN)."""
    if case == "wrong SCRAM password":
        return secured.client_args("SASL_SSL", secret_file(directory, WRONG_PASSWORD))
    if case == "wrong PLAIN password":
        cli.env["CHINOOK_SASL_PASSWORD"] = WRONG_PASSWORD
        return secured.client_args("SASL_PLAINTEXT")
    if case == "untrusted CA":
        options = secured.client_args("SSL")
        options[options.index(str(secured.ca))] = str(secured.other_ca)
        return options
    return ["--bootstrap-servers", secured.cluster.servers("SSL")]


@pytest.mark.parametrize("case", list(FIXES))
def test_a_misconfigured_client_gets_one_line_naming_the_fix(
    case: str, secured: Secured, cli: Cli, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "5")
    connection = misconfigured(case, secured, cli, tmp_path)
    commands = [
        ["producer", "--db", str(db), *connection],
        ["consumer", *connection, "--bucket", bucket],
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda a: cli.run(*a, timeout=BOUND, check=False), commands))
    for command, result in zip(commands, results, strict=True):
        output = result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert result.returncode != 0, f"{command[0]} should have failed:\n{output}"
        assert len(errors) == 1 and FIXES[case] in errors[0], f"{command[0]}:\n{output}"
        assert "Traceback" not in output, output
        assert_no_secret(output)
    assert_no_secret(secured.cluster.nodes[0].log.read_text())
