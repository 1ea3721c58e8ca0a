"""Tests for course.py: the `lab` command line, installs from a wheelhouse, the learner pack.

Nothing here installs or downloads: pip's commands are checked as built, and set_up() runs
against a stand-in .venv with pip's runs recorded. tools/offline_install_check.sh (in CI)
does the real offline install.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
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
    monkeypatch.setattr(course, "set_up", lambda wheelhouse=None: Path(PYTHON))
    monkeypatch.setattr(course, "running_as_root", lambda: as_root)
    monkeypatch.setattr(course, "run", lambda command, env=None: ran.append(command) or 0)
    assert course.main(["lab", "--no-browser"]) == 0
    assert ran == [course.lab_command(PYTHON, ["--no-browser"], as_root=as_root)]
    said_so = "running as root: adding --allow-root" in capsys.readouterr().out
    assert said_so == as_root


# --- --wheelhouse and COURSE_WHEELHOUSE --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--wheelhouse", "wh", "--no-browser"], ["--no-browser", "--wheelhouse=wh"]],
)
def test_wheelhouse_option_is_taken_out_of_the_arguments(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert course.wheelhouse_option(args, environ={}) == (["--no-browser"], tmp_path / "wh")


def test_wheelhouse_comes_from_the_environment_unless_the_option_is_given() -> None:
    environ = {"COURSE_WHEELHOUSE": "~/wh"}
    assert course.wheelhouse_option(["-x"], environ) == (["-x"], Path.home() / "wh")
    assert course.wheelhouse_option(["--wheelhouse=/a"], environ) == ([], Path("/a").resolve())
    assert course.wheelhouse_option(["-x"], {"COURSE_WHEELHOUSE": ""}) == (["-x"], None)
    assert course.wheelhouse_option(["-x"], {}) == (["-x"], None)


@pytest.mark.parametrize(
    "args", [["--wheelhouse"], ["--wheelhouse", "--no-browser"], ["--wheelhouse="]]
)
def test_wheelhouse_option_without_a_folder_is_refused(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        course.wheelhouse_option(args, environ={})
    assert "--wheelhouse needs a folder" in capsys.readouterr().err


@pytest.fixture
def recorded_main(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path | None], list[list[str]]]:
    """main() with set_up() and run() recorded: (wheelhouses set up with, commands run)."""
    wheelhouses: list[Path | None] = []
    ran: list[list[str]] = []
    monkeypatch.setattr(
        course, "set_up", lambda wheelhouse=None: wheelhouses.append(wheelhouse) or Path(PYTHON)
    )
    monkeypatch.setattr(course, "run", lambda command, env=None: ran.append(command) or 0)
    monkeypatch.delenv("COURSE_WHEELHOUSE", raising=False)
    return wheelhouses, ran


def test_main_sets_up_from_the_wheelhouse_and_passes_the_other_arguments_on(
    recorded_main: tuple[list[Path | None], list[list[str]]], tmp_path: Path
) -> None:
    wheelhouses, ran = recorded_main
    assert course.main(["lab", "--wheelhouse", str(tmp_path), "--no-browser"]) == 0
    assert wheelhouses == [tmp_path]
    assert ran == [course.lab_command(PYTHON, ["--no-browser"])]


def test_main_takes_the_wheelhouse_from_the_environment(
    recorded_main: tuple[list[Path | None], list[list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wheelhouses, ran = recorded_main
    monkeypatch.setenv("COURSE_WHEELHOUSE", str(tmp_path))
    assert course.main(["test", "-x"]) == 0
    assert wheelhouses == [tmp_path]
    assert ran == [[PYTHON, "-m", "pytest", "-x"]]


def test_main_setup_only_sets_up(
    recorded_main: tuple[list[Path | None], list[list[str]]], tmp_path: Path
) -> None:
    wheelhouses, ran = recorded_main
    assert course.main(["setup", f"--wheelhouse={tmp_path}"]) == 0
    assert (wheelhouses, ran) == ([tmp_path], [])


# --- set_up() with a wheelhouse ------------------------------------------------------------------

WHEELHOUSE = Path("/classroom/wheelhouse")
# What pip prints when the wheelhouse lacks a requirement (pip 23 to 25).
PIP_MISSING_TQDM = """Looking in links: /classroom/wheelhouse
Processing /classroom/wheelhouse/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl
ERROR: Could not find a version that satisfies the requirement tqdm==4.70.1 (from versions: none)
ERROR: No matching distribution found for tqdm==4.70.1
"""


def test_install_commands_with_a_wheelhouse_look_nowhere_else() -> None:
    pip = [PYTHON, "-m", "pip", "install", "--disable-pip-version-check"]
    offline = [*pip, "--no-index", "--find-links", str(WHEELHOUSE)]
    assert course.install_commands(PYTHON, WHEELHOUSE) == [
        [*offline, "-r", "requirements.txt"],
        [*offline, "--no-deps", "-e", "."],
    ]
    assert course.install_commands(PYTHON) == [
        [*pip, "-r", "requirements.txt"],
        [*pip, "--no-deps", "-e", "."],
    ]


class StandInVenv:
    """A .venv that exists without installing anything: pip's runs are recorded instead."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.venv = root / ".venv"
        self.python = course.venv_python(self.venv)
        self.python.parent.mkdir(parents=True)
        self.python.touch()
        self.stamp = self.venv / "course-install.sha256"
        self.ran: list[list[str]] = []
        self.pip_status, self.pip_output = 0, ""
        monkeypatch.setattr(course, "VENV", self.venv)
        monkeypatch.setattr(course, "STAMP", self.stamp)
        monkeypatch.setattr(course, "run", self._run)
        monkeypatch.setattr(course, "run_logged", self._run_logged)

    def _run(self, command: list[str], env: dict[str, str] | None = None) -> int:
        self.ran.append(command)
        return self.pip_status

    def _run_logged(self, command: list[str]) -> tuple[int, str]:
        self.ran.append(command)
        return self.pip_status, self.pip_output


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandInVenv:
    """A stand-in .venv in tmp_path, with nothing installed yet."""
    return StandInVenv(tmp_path, monkeypatch)


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """A folder holding one (empty) wheel."""
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    (folder / "tqdm-4.70.1-py3-none-any.whl").touch()
    return folder


def test_set_up_installs_from_the_wheelhouse(venv: StandInVenv, wheelhouse: Path) -> None:
    assert course.set_up(wheelhouse) == venv.python
    assert venv.ran == course.install_commands(venv.python, wheelhouse)
    assert venv.stamp.read_text(encoding="utf-8").strip() == course.install_hash()


def test_the_wheelhouse_does_not_change_the_install_stamp(
    venv: StandInVenv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venv.stamp.write_text(course.install_hash() + "\n", encoding="utf-8")
    assert course.set_up(tmp_path / "not-even-there") == venv.python
    assert venv.ran == []
    assert "environment up to date" in capsys.readouterr().out


def test_set_up_names_the_wheel_missing_from_the_wheelhouse_and_the_fix(
    venv: StandInVenv, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venv.pip_status, venv.pip_output = 1, PIP_MISSING_TQDM
    with pytest.raises(SystemExit):
        course.set_up(wheelhouse)
    error = capsys.readouterr().err
    assert f"the wheelhouse {wheelhouse} has no wheel of tqdm==4.70.1" in error
    assert "python3 course.py wheelhouse DIR" in error
    assert "--platform" in error
    assert not venv.stamp.exists()


def test_an_offline_failure_without_a_missing_wheel_points_to_pips_message() -> None:
    command = course.install_commands(PYTHON, WHEELHOUSE)[1]
    message = course.offline_failure_message(command, "ERROR: disk full\n", WHEELHOUSE)
    assert "see pip's message above" in message
    assert "no wheel" not in message


@pytest.mark.parametrize("make", ["nothing", "empty folder"])
def test_set_up_refuses_a_wheelhouse_without_wheels_before_running_pip(
    venv: StandInVenv, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str
) -> None:
    folder = tmp_path / "wheelhouse"
    if make == "empty folder":
        folder.mkdir()
    with pytest.raises(SystemExit):
        course.set_up(folder)
    assert "python3 course.py wheelhouse DIR" in capsys.readouterr().err
    assert venv.ran == []


def test_run_logged_echoes_and_returns_the_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('one'); print('two', file=sys.stderr); sys.exit(3)"
    assert course.run_logged([sys.executable, "-c", code]) == (3, "one\ntwo\n")
    assert capsys.readouterr().out == "one\ntwo\n"


# --- course.py wheelhouse ------------------------------------------------------------------------


def test_download_command_gets_wheels_for_the_requirements_and_the_build(tmp_path: Path) -> None:
    command = course.download_command(PYTHON, tmp_path, ["--platform", "win_amd64"])
    with (ROOT / "pyproject.toml").open("rb") as file:
        build = tomllib.load(file)["build-system"]["requires"]
    assert command[:4] == [PYTHON, "-m", "pip", "download"]
    assert command[-2:] == ["--platform", "win_amd64"]  # last: the user's options win
    assert "--only-binary=:all:" in command
    assert command[command.index("--dest") + 1] == str(tmp_path)
    assert command[command.index("-r") + 1] == str(ROOT / "requirements.txt")
    assert build and all(requirement in command for requirement in build)


def test_main_wheelhouse_runs_pip_download_with_the_users_options(
    recorded_main: tuple[list[Path | None], list[list[str]]], tmp_path: Path
) -> None:
    wheelhouses, ran = recorded_main
    assert course.main(["wheelhouse", str(tmp_path), "--python-version", "3.12"]) == 0
    assert ran == [course.download_command(sys.executable, tmp_path, ["--python-version", "3.12"])]
    assert wheelhouses == []  # downloading needs no .venv


@pytest.mark.parametrize("args", [[], ["--platform", "win_amd64"]])
def test_main_wheelhouse_without_a_folder_shows_the_usage(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        course.main(["wheelhouse", *args])
    assert "usage: python3 course.py wheelhouse DIR" in capsys.readouterr().err


# --- course.py pack ------------------------------------------------------------------------------

COURSE_FILES = ("README.md", "LICENSE", "requirements.txt", "pyproject.toml")


def notebook(*cells: tuple[str, Sequence[str]]) -> str:
    """A notebook's JSON with code cells given as (source, tags)."""
    cells_json = [
        {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source, "outputs": []}
        for source, tags in cells
    ]
    return json.dumps({"cells": cells_json, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


LEARNER = notebook(("answer = None", ()))
SOLVED = notebook(("answer = 42", ()))


@pytest.fixture
def small_course(tmp_path: Path) -> Path:
    """A course with one notebook (learner, solution and source versions), tests and tools."""
    root = tmp_path / "course"
    for item in course.PACK_ITEMS:
        (root / item).parent.mkdir(parents=True, exist_ok=True)
        if item in COURSE_FILES:
            (root / item).write_text(f"{item}\n", encoding="utf-8")
        elif item == "course.py":
            shutil.copy(ROOT / "course.py", root / item)
        else:
            (root / item).mkdir()
            (root / item / "__init__.py").write_text("\n", encoding="utf-8")
    for path, text in {
        "notebooks/01_intro.ipynb": LEARNER,
        "notebooks/solutions/01_intro.ipynb": SOLVED,
        "notebooks/source/01_intro.py": "### BEGIN SOLUTION\n",
        "tests/test_x.py": "\n",
        "tools/build_notebooks.py": "\n",
        "course_lib/__pycache__/x.cpython-311.pyc": "",
        "datasets/.DS_Store": "",
        "docs/instructor.md": "a good answer shows\n",
        "course_lib.egg-info/PKG-INFO": "",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def files_under(folder: Path) -> set[str]:
    """The files in a folder, as relative POSIX paths."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_pack_holds_the_learner_files_only(small_course: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "course-pack"
    archive = course.pack(dest, small_course, commit="abc1234")
    expected = {
        *COURSE_FILES,
        "course.py",
        "PACK.md",
        "notebooks/01_intro.ipynb",
        *(f"{item}/__init__.py" for item in ("course_lib", "datasets", "configs", "docs")),
    }
    assert files_under(dest) == expected
    assert (dest / "notebooks" / "01_intro.ipynb").read_text(encoding="utf-8") == LEARNER
    assert archive == tmp_path / "out" / "course-pack.zip"
    with zipfile.ZipFile(archive) as zipped:
        assert set(zipped.namelist()) == {f"course-pack/{name}" for name in expected}
    note = (dest / "PACK.md").read_text(encoding="utf-8")
    assert "abc1234" in note
    assert "python3 course.py lab" in note


def test_pack_of_this_course_has_no_solutions_sources_tests_or_caches(tmp_path: Path) -> None:
    course.pack(tmp_path / "pack", commit="abc1234")
    names = files_under(tmp_path / "pack")
    left_out = ("notebooks/solutions/", "notebooks/source/", "tests/", "tools/", "benchmarks/")
    assert not [name for name in names if name.startswith((*left_out, ".ci/", ".venv/"))]
    assert not [name for name in names if "__pycache__" in name or ".egg-info" in name]
    assert "docs/instructor.md" not in names
    stored = {p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert stored <= names
    assert {"course.py", "course_lib/__init__.py", "requirements.txt", "PACK.md"} <= names


@pytest.mark.parametrize(
    "learner",
    [
        notebook(("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", ())),
        notebook(("answer = None", ()), ("answer = 42", ("solution",))),
        SOLVED,  # a copy of the solution version
    ],
    ids=["marker", "tag", "copy"],
)
def test_pack_refuses_a_notebook_that_gives_a_solution_away(
    small_course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], learner: str
) -> None:
    (small_course / "notebooks" / "01_intro.ipynb").write_text(learner, encoding="utf-8")
    with pytest.raises(SystemExit):
        course.pack(tmp_path / "pack", small_course)
    error = capsys.readouterr().err
    assert "notebooks/01_intro.ipynb" in error
    assert "python3 course.py notebooks" in error
    assert not (tmp_path / "pack").exists()


def test_pack_replaces_an_earlier_pack_but_no_other_folder(
    small_course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "pack"
    course.pack(dest, small_course, commit="abc1234")
    (dest / "old.txt").write_text("\n", encoding="utf-8")
    course.pack(dest, small_course, commit="abc1234")
    assert not (dest / "old.txt").exists()
    other = tmp_path / "homework"
    other.mkdir()
    (other / "mine.txt").write_text("\n", encoding="utf-8")
    for refused in (other, small_course / "course_lib" / "pack", tmp_path):
        with pytest.raises(SystemExit):
            course.pack(refused, small_course)
    assert (other / "mine.txt").exists()
    assert "choose" in capsys.readouterr().err


def test_pack_names_no_commit_outside_git(small_course: Path) -> None:
    assert course.source_commit(small_course) == "unknown"


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a clone"
)
def test_pack_names_the_commit_of_a_clone() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert course.source_commit(ROOT).startswith(head)


@pytest.mark.parametrize("command", ["test", "notebooks"])
def test_course_py_in_a_pack_says_what_the_pack_leaves_out(
    small_course: Path, tmp_path: Path, command: str
) -> None:
    course.pack(tmp_path / "pack", small_course, commit="abc1234")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "pack" / "course.py"), command],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "this is a learner pack" in result.stderr
    assert "python3 course.py lab" in result.stderr
    assert not (tmp_path / "pack" / ".venv").exists()  # refused before any set-up
