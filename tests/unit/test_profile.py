"""The local profile `dev` writes: the commands it serves read it while that `dev` runs, and
nothing else does."""

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from chinook_pipeline.cli.main import cli
from chinook_pipeline.local.profile import PROFILE, read_profile, remove_profile, write_profile

ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "local-key", "AWS_SECRET_ACCESS_KEY": "local-secret"}


def profile(directory: Path, pid: int) -> Path:
    path = directory / PROFILE
    missing = str(directory / "no such.db")  # a space and a quote-free path, as TOML
    write_profile(
        path,
        pid,
        ENVIRONMENT,
        {
            "verify": {"db": missing, "bucket": "chinook-data"},
            "iceberg verify": {
                "db": missing,
                "table": "chinook.nowhere",
                "catalog_uri": f"sqlite:///{directory}/iceberg.db",
            },
        },
    )
    return path


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_running_dev_profile_gives_its_commands_their_options(here: Path) -> None:
    profile(here, os.getpid())
    for args, error in (
        (["verify"], f"database {here / 'no such.db'} does not exist"),
        (["iceberg", "verify"], "table chinook.nowhere not found in the Iceberg catalog"),
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and error in result.output, result.output
        assert "using the local stack of `chinook-pipeline dev`" in result.output
    assert {name: os.environ[name] for name in ENVIRONMENT} == ENVIRONMENT


def test_flags_and_other_commands_are_not_affected(here: Path) -> None:
    profile(here, os.getpid())
    other = CliRunner().invoke(cli, ["seed"])  # not served: its --db is still required
    assert other.exit_code == 2 and "Missing option '--db'" in other.output
    assert "using the local stack" not in other.output and "AWS_ACCESS_KEY_ID" not in os.environ
    flagged = CliRunner().invoke(cli, ["verify", "--db", str(here / "flag.db")])
    assert f"database {here / 'flag.db'} does not exist" in flagged.output


def test_a_profile_left_by_a_killed_dev_is_ignored(here: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    profile(here, gone.pid)
    result = CliRunner().invoke(cli, ["verify"])
    assert result.exit_code == 2 and "Missing option '--db'" in result.output
    assert "ignoring .chinook-dev.toml: the `chinook-pipeline dev` that wrote it has stopped" in (
        result.output
    )


def test_only_the_dev_that_wrote_it_removes_it(here: Path) -> None:
    path = profile(here, os.getpid())
    remove_profile(path, os.getpid() + 1)
    assert read_profile(path)[1] == os.getpid()
    remove_profile(path, os.getpid())
    assert not path.exists() and read_profile(path) == ({}, None)


def test_a_second_dev_in_the_same_folder_is_refused(here: Path) -> None:
    profile(here, os.getpid())
    result = CliRunner().invoke(cli, ["dev"])
    assert result.exit_code == 1 and "already runs in this folder: stop it first" in result.output
    assert not (here / "data").exists(), "nothing of the running one was touched"
