"""The wheel installs our import names only: chinook_shared, chinook_producer, chinook_consumer and
chinook_pipeline, mapped from the fixed top-level folders (pyproject.toml's package-dir)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "chinook_shared": "shared",
    "chinook_producer": "producer",
    "chinook_consumer": "consumer",
}


def _setuptools() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["setuptools"]


def test_the_renamed_folders_are_mapped() -> None:
    assert _setuptools()["package-dir"] == FOLDERS


def test_every_package_in_the_tree_is_listed_under_its_installed_name() -> None:
    on_disk = set()
    for name, folder in {**FOLDERS, "chinook_pipeline": "chinook_pipeline"}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((name, *parts)))
    assert set(_setuptools()["packages"]) == on_disk


def test_no_module_imports_a_folder_by_its_bare_name() -> None:
    """`import shared` would work from a checkout (the folder is on sys.path) but not installed."""
    bare = set(FOLDERS.values())
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for folder in (*bare, "chinook_pipeline", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "gen" not in path.relative_to(ROOT).parts
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("from ", "import ")) and line.split()[1].split(".")[0] in bare
    ]
    assert offenders == []
