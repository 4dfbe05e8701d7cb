"""The package layout that the README describes, as import rules: the recipe toolkit imports no
method, ground-floor modules import only each other, and no two packages import each other."""

import ast
from pathlib import Path
from typing import Dict, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "espnet2_ext"
GROUND_FLOOR = {"errors", "kaldi_files", "audio", "offline"}
METHODS = {"context", "fastinf", "ssl", "corpora", "score", "rewire"}
TOP_LAYER = {"registration", "tasks", "bin"}  # they name every method; nothing below imports them


def unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to: espnet2_ext/<unit>/..."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_units(path: Path) -> Set[str]:
    """The units of espnet2_ext that a file imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "espnet2_ext" and len(parts) > 1:
                found.add(parts[1])
    return found


def graph() -> Dict[str, Set[str]]:
    edges: Dict[str, Set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        edges.setdefault(unit(path), set()).update(imported_units(path) - {unit(path), "__init__"})
    return edges


def test_the_recipe_toolkit_imports_no_method_and_no_top_layer():
    assert graph()["recipe"] <= GROUND_FLOOR


@pytest.mark.parametrize("name", sorted(GROUND_FLOOR))
def test_ground_floor_modules_import_only_the_ground_floor(name):
    assert graph().get(name, set()) <= GROUND_FLOOR


def test_nothing_below_the_top_layer_imports_it():
    for name, targets in graph().items():
        if name not in TOP_LAYER:
            assert not targets & TOP_LAYER, f"espnet2_ext.{name} imports {targets & TOP_LAYER}"


def test_the_upstream_imports_no_method():
    assert not graph()["upstream"] & METHODS


def test_no_import_cycle_between_packages():
    edges = graph()

    def reaches(start: str, goal: str, seen: Set[str]) -> bool:
        for nxt in edges.get(start, set()) - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    cycles = sorted(name for name in edges if reaches(name, name, set()))
    assert cycles == [], f"packages on an import cycle: {cycles}"


def test_the_rules_see_imports_inside_functions(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from espnet2_ext.fastinf import report\n    import espnet2_ext.context.data\n")
    assert imported_units(source) == {"fastinf", "context"}
