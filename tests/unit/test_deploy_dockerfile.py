"""Static checks of the Dockerfile and .dockerignore."""

import re

from tests.deploy_files import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_a_small_non_root_image() -> None:
    instructions = dockerfile_instructions()
    (base,) = [arg for op, arg in instructions if op == "FROM"]
    assert re.fullmatch(r"python:3\.11[\w.]*-slim-bookworm", base), base
    assert any(op == "RUN" and "pip install --no-cache-dir ." in arg for op, arg in instructions)
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    (healthcheck,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib.request" in healthcheck
    assert ("ENTRYPOINT", '["chinook-pipeline"]') in instructions


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".git", ".venv", "tests", "data"} <= ignored
    for op, arg in dockerfile_instructions():
        if op != "COPY":
            continue
        *sources, _ = arg.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"
