"""The whole pipeline on a second Kafka-compatible broker (Tansu): producer, object consumer and
`verify`, as a user runs them. Everything else in the suite runs on Apache Kafka."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.tansu import Tansu, start_tansu


@pytest.fixture()
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    server = start_tansu(tmp_path / "tansu.log")
    yield server
    server.stop()


def test_pipeline_on_tansu_arrives_exactly(
    cli: Cli, tansu: Tansu, topic: str, bucket: str, tmp_path: Path
) -> None:
    db = tmp_path / "chinook.db"
    cli.run("seed", "--db", str(db), "--customers", "2000")
    common = ["--bootstrap-servers", tansu.bootstrap_servers, "--topic", topic]
    cli.run("producer", *common, "--db", str(db), "--exit-when-idle")
    cli.run("consumer", *common, "--bucket", bucket, "--exit-when-idle")
    result = cli.run("verify", "--db", str(db), "--bucket", bucket)
    assert "OK" in result.stdout, result.stdout
