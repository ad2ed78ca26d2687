"""The import structure of the whole tree, read by grimp (the graph library under import-linter):
no circle between modules, and the layering of the brief.

grimp parses every module's source (nothing is imported) and records every `import` statement it
finds: at module level, inside functions and methods, and under `if TYPE_CHECKING:` (the graph
is built without `exclude_type_checking_imports`), so a circle closed by a function-level or a
type-only import counts too; `test_graph_sees_function_level_and_type_checking_imports` checks
that on a package made for it. An import of `a.b.c` is an edge to `a.b.c` alone: that Python
also runs the `__init__` of `a` and `a.b` on the way is not an edge.
"""

import textwrap
from pathlib import Path

import grimp
import pytest

PACKAGES = ("chinook_shared", "chinook_producer", "chinook_consumer", "chinook_pipeline")
# Highest first: a layer imports only the layers below it; producer and consumer never each other.
LAYERS = ("chinook_pipeline", {"chinook_producer", "chinook_consumer"}, "chinook_shared")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def circles(graph: grimp.ImportGraph) -> set[tuple[str, ...]]:
    """Every circle through a direct import (importer -> imported, then grimp's shortest chain
    from imported back to importer), once each: rotated to start at its smallest module."""
    found = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                circle = (importer, *back[:-1])
                start = circle.index(min(circle))
                found.add(circle[start:] + circle[:start])
    return found


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    found = sorted(" -> ".join((*circle, circle[0])) for circle in circles(graph))
    assert not found, "import circles:\n" + "\n".join(found)


def test_layers(graph: grimp.ImportGraph) -> None:
    """shared imports neither service; producer and consumer never import each other; none of
    the three imports chinook_pipeline, even through another module."""
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS)
    routes = sorted(
        f"{dependency.importer} -> {dependency.imported}: "
        + " -> ".join([*sorted(route.heads), *route.middle, *sorted(route.tails)])
        for dependency in illegal
        for route in dependency.routes
    )
    assert not routes, "imports against the layering:\n" + "\n".join(routes)


def test_graph_sees_function_level_and_type_checking_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The circle check relies on these imports being edges of the graph."""
    package = tmp_path / "circled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text("from circled import typed\n")
    (package / "typed.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from circled.lazy import Thing


            def run() -> None:
                from circled import lazy
            """
        )
    )
    (package / "lazy.py").write_text("class Thing: ...\n\n\ndef use():\n    import circled.top\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    built = grimp.build_graph("circled", cache_dir=None)
    details = built.get_import_details(importer="circled.typed", imported="circled.lazy")
    assert sorted(detail["line_contents"] for detail in details) == [
        "from circled import lazy",
        "from circled.lazy import Thing",
    ]
    assert circles(built) == {("circled.lazy", "circled.top", "circled.typed")}
