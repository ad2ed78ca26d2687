"""The README and docs/: the README stays one screen or two, and no link or named path is dead.

Files move (issue 19 moved most of the README into docs/, and code between folders); these tests
make a move that leaves a dead link, a missing heading or a stale file path fail at once.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# A path the docs name in a code span: under one of the repository's own folders.
NAMED_PATH = re.compile(
    r"`((?:producer|consumer|shared|chinook_pipeline|tests|proto|ops|docs|\.ci)/[\w./-]*)"
    r"(?:::(\w+))?`"
)
# Test paths the docs give relative to tests/ (e.g. `faults/test_faults.py::test_...`).
TEST_PATH = re.compile(r"`((?:unit|integration|faults)/[\w./-]+\.py)(?:::(\w+))?")


def prose(text: str) -> str:
    """The text outside fenced code blocks, where a link is a link."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(prose(page.read_text())):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def relative_links(page: Path) -> list[str]:
    text = CODE_SPAN.sub("", prose(page.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_there_are_pages_and_links() -> None:
    assert len(PAGES) > 5
    assert relative_links(README)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    dead = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            dead.append(f"{target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            dead.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not dead, f"{page.relative_to(ROOT)}: dead links:\n" + "\n".join(dead)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_named_path_exists(page: Path) -> None:
    """A code path in a code span (`consumer/...`, `tests/...`, or a test path under tests/,
    `faults/test_faults.py::test_name`) names a file or folder that exists, and a test that
    does."""
    text = page.read_text()
    named = [(ROOT / path, test) for path, test in NAMED_PATH.findall(text)]
    named += [(ROOT / "tests" / path, test) for path, test in TEST_PATH.findall(text)]
    missing = []
    for path, test in named:
        if not path.exists():
            missing.append(f"{path.relative_to(ROOT)}: no such file or folder")
        elif test and not re.search(rf"^\s*def {test}\(", path.read_text(), re.MULTILINE):
            missing.append(f"{path.relative_to(ROOT)}: no test {test}")
    assert not missing, f"{page.relative_to(ROOT)} names:\n" + "\n".join(missing)


def test_the_readme_opens_with_the_two_commands_and_stays_short() -> None:
    text = README.read_text()
    first_block = FENCE.search(text)
    assert first_block, "README has no command block"
    assert text[: first_block.start()].strip().count("\n") == 0, (
        "README must open with the commands"
    )
    commands = [line.split("#")[0].strip() for line in first_block.group(0).splitlines()[1:-1]]
    assert commands == ["make dev", "make test"]
    assert len(text.splitlines()) < 250


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"README links no page {unlinked}"
