"""Tests for course.py's `lab` command line: the notebooks folder and --allow-root as root."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_course_module() -> ModuleType:
    """Import course.py, a script at the repository root rather than a package module."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["course"] = module  # as a normal import would
    spec.loader.exec_module(module)
    return module


course = _load_course_module()
PYTHON = "/venv/bin/python"


def test_lab_command_opens_the_notebooks_folder_with_the_users_arguments() -> None:
    command = course.lab_command(PYTHON, ["--port=9999"], as_root=False)
    assert command == [PYTHON, "-m", "jupyterlab", str(ROOT / "notebooks"), "--port=9999"]


def test_lab_command_takes_another_notebooks_folder(tmp_path: Path) -> None:
    command = course.lab_command(PYTHON, notebooks=tmp_path, as_root=False)
    assert command == [PYTHON, "-m", "jupyterlab", str(tmp_path)]


def test_lab_command_adds_allow_root_as_root() -> None:
    command = course.lab_command(PYTHON, ["--no-browser"], as_root=True)
    assert command[-2:] == ["--no-browser", "--allow-root"]


@pytest.mark.parametrize(
    "option", ["--allow-root", "--ServerApp.allow_root=False", "--ServerApp.allow_root=True"]
)
def test_lab_command_leaves_an_allow_root_option_of_the_user_alone(option: str) -> None:
    command = course.lab_command(PYTHON, [option], as_root=True)
    assert command.count(option) == 1
    assert sum(arg.startswith("--allow") for arg in command) == (option == "--allow-root")


def test_lab_command_asks_the_system_whether_it_runs_as_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(course, "running_as_root", lambda: True)
    assert course.lab_command(PYTHON)[-1] == "--allow-root"
    monkeypatch.setattr(course, "running_as_root", lambda: False)
    assert "--allow-root" not in course.lab_command(PYTHON)


@pytest.mark.parametrize("as_root", [True, False])
def test_main_lab_runs_lab_command_and_says_when_it_adds_allow_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_root: bool
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(course, "set_up", lambda: Path(PYTHON))
    monkeypatch.setattr(course, "running_as_root", lambda: as_root)
    monkeypatch.setattr(course, "run", lambda command, env=None: ran.append(command) or 0)
    assert course.main(["lab", "--no-browser"]) == 0
    assert ran == [course.lab_command(PYTHON, ["--no-browser"], as_root=as_root)]
    said_so = "running as root: adding --allow-root" in capsys.readouterr().out
    assert said_so == as_root
