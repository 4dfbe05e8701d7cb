"""tests/BAD_INPUT.md, the bad-input matrix, names only tests that exist."""

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_test_the_matrix_names_exists():
    rows = [line for line in (TESTS / "BAD_INPUT.md").read_text().splitlines() if line.startswith("| ")][1:]  # after the header
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", "\n".join(rows))
    assert len(rows) >= 25 and len(named) >= len(rows)
    for file, name in named:
        defined = {node.name for node in ast.walk(ast.parse((TESTS / file).read_text()))
                   if isinstance(node, ast.FunctionDef)}
        assert name in defined, f"BAD_INPUT.md names {file}::{name}, which does not exist"
