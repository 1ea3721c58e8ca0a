"""The public API: ``course_lib.__all__`` is exactly what the notebooks import from it."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import course_lib

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks" / "source").glob("[0-9][0-9]_*.py"))
STORED = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb")
)


def top_level_names(code: str) -> set[str]:
    """Names taken from the top-level package: ``from course_lib import x``, ``course_lib.x``."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == "course_lib":
            names |= {alias.name for alias in node.names}
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "course_lib"
        ):
            names.add(node.attr)
    return names


def notebook_code(path: Path) -> str:
    """The code cells of a stored notebook, without IPython magics and shell lines."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines)


def test_the_notebooks_are_found() -> None:
    assert len(SOURCES) >= 8
    assert len(STORED) == 2 * len(SOURCES)


@pytest.mark.parametrize(
    "path", SOURCES + STORED, ids=lambda p: str(p.relative_to(ROOT / "notebooks"))
)
def test_a_notebook_imports_only_public_names(path: Path) -> None:
    code = path.read_text(encoding="utf-8") if path.suffix == ".py" else notebook_code(path)
    assert top_level_names(code) <= set(course_lib.__all__)


def test_every_public_name_is_used_by_a_notebook() -> None:
    """So the list cannot grow back: a name no notebook uses is imported from its module."""
    used = set().union(*(top_level_names(path.read_text(encoding="utf-8")) for path in SOURCES))
    assert sorted(set(course_lib.__all__) - used) == []


def test_public_names_are_unique_and_defined() -> None:
    assert len(course_lib.__all__) == len(set(course_lib.__all__))
    for name in course_lib.__all__:
        assert getattr(course_lib, name) is not None


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("course_lib.data", "read_log"),
        ("course_lib.data", "PreparedData"),
        ("course_lib.datasets", "load_movielens"),
        ("course_lib.models", "MMoEModel"),
        ("course_lib.models", "ARCHITECTURES"),
        ("course_lib.training", "MultiTaskLoss"),
        ("course_lib.metrics", "ranking_metrics"),
        ("course_lib.checkpoint", "LoadedModel"),
        ("course_lib.bundled", "BUNDLED_CONFIG"),
    ],
)
def test_the_rest_is_imported_from_its_module(module: str, name: str) -> None:
    assert name not in course_lib.__all__
    assert hasattr(importlib.import_module(module), name)
