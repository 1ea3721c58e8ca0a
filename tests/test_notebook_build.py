"""Tests for tools/build_notebooks.py: solution markers, generation and the --check logic."""

from __future__ import annotations

import importlib.util
import platform
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
Course = tuple[Path, Path]  # (source folder, notebook folder) of a course made in tmp_path


def _load_build_module() -> ModuleType:
    """Import tools/build_notebooks.py, a script rather than a package module."""
    path = ROOT / "tools" / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_notebooks"] = module  # as a normal import would
    spec.loader.exec_module(module)
    return module


bn = _load_build_module()

EXERCISE_SOURCE = """\
# %% [markdown]
# # 01 · Title

# %%
x = 6 * 7

# %%
answer = None  ### STUB
### BEGIN SOLUTION
answer = x
### END SOLUTION

# %% tags=["solution"]
print("only in the solution")
"""
PLAIN_SOURCE = """\
# %%
x = 6 * 7

# %% tags=["raises-exception"]
print(x)
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def store_executed(target: bn.Target, counts: list[int | None] | None = None) -> None:
    """Store a target's notebook as if executed, without a kernel."""
    notebook = bn.to_notebook(target.cells)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell, count in zip(code, counts or range(1, len(code) + 1), strict=True):
        cell.execution_count = count
    target.path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target.path)


@pytest.fixture
def course(tmp_path: Path) -> Course:
    """A tiny course: two sources (one with solutions), a template; nothing stored yet."""
    source_dir, notebook_dir = tmp_path / "notebooks" / "source", tmp_path / "notebooks"
    write(source_dir / "01_exercises.py", EXERCISE_SOURCE)
    write(source_dir / "02_plain.py", PLAIN_SOURCE)
    write(source_dir / "_template.py", "# %%\nraise SystemExit('never built')\n")
    return source_dir, notebook_dir


def store_all(source_dir: Path, notebook_dir: Path) -> None:
    for source in bn.find_sources(source_dir):
        for target in bn.targets(source, notebook_dir):
            store_executed(target)


# --- solution markers -------------------------------------------------------------------------


def test_split_code_makes_learner_and_solution_versions() -> None:
    source = textwrap.dedent("""\
        def f(x):
            y = None  ### STUB
            ### BEGIN SOLUTION
            y = 2 * x
            ### END SOLUTION
            return y""")
    learner, solution = bn.split_code(source, "cell")
    assert learner == "def f(x):\n    y = None\n    return y"
    assert solution == "def f(x):\n    y = 2 * x\n    return y"


def test_split_code_without_markers_keeps_the_code() -> None:
    assert bn.split_code("a = 1\n# a comment", "cell") == ("a = 1\n# a comment",) * 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("### BEGIN SOLUTION\na = 1", "line 1: ### BEGIN SOLUTION is never closed"),
        ("a = 1\n### END SOLUTION", "line 2: ### END SOLUTION without ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "line 2: nested"),
        ("### BEGIN SOLUTION\na = None  ### STUB\n### END SOLUTION", "line 2: ### STUB inside"),
        ("# begin solution\na = 1", "line 1: write the marker exactly as '### BEGIN SOLUTION'"),
    ],
)
def test_bad_markers_name_file_cell_and_line(code: str, error: str) -> None:
    text = f"# %% [markdown]\n# intro\n\n# %%\n{code}\n"
    with pytest.raises(bn.BuildError) as raised:
        bn.split_source(text, "notebooks/source/03_x.py")
    assert str(raised.value).startswith(f"notebooks/source/03_x.py, cell 2, {error}")


def test_split_source_makes_both_notebooks() -> None:
    learner, solution = bn.split_source(EXERCISE_SOURCE, "01.py")
    assert learner == [
        ("markdown", "# 01 · Title", ()),
        ("code", "x = 6 * 7", ()),
        ("code", "answer = None", ()),
    ]
    assert solution == [
        *learner[:2],
        ("code", "answer = x", ()),
        ("code", 'print("only in the solution")', ()),
    ]


def test_a_source_without_markers_has_no_solution_version() -> None:
    learner, solution = bn.split_source(PLAIN_SOURCE, "02.py")
    assert solution is None
    assert learner[1] == ("code", "print(x)", ("raises-exception",))


def test_stored_notebooks_are_clean_and_ids_stable() -> None:
    cells = [("code", "a = 1", ()), ("code", "a = 1", ()), ("markdown", "text", ("tag",))]
    notebook = bn.to_notebook(cells)
    nbformat.validate(notebook)
    assert notebook.metadata == {"kernelspec": bn.KERNELSPEC}
    ids = [cell.id for cell in notebook.cells]
    assert len(set(ids)) == 3
    assert ids == [cell.id for cell in bn.to_notebook(cells).cells]
    assert bn.cells_of(notebook) == cells


# --- choosing sources -------------------------------------------------------------------------


def test_find_sources_skips_underscore_files_and_matches_names(course: Course) -> None:
    source_dir, _ = course
    assert [p.name for p in bn.find_sources(source_dir)] == ["01_exercises.py", "02_plain.py"]
    for name in ("02", "02_plain", "notebooks/source/02_plain.py", "02_plain.ipynb"):
        assert [p.name for p in bn.find_sources(source_dir, [name])] == ["02_plain.py"]
    with pytest.raises(bn.BuildError, match="no notebook source matches '_template'"):
        bn.find_sources(source_dir, ["_template"])


def test_targets_put_solutions_in_their_folder(course: Course) -> None:
    source_dir, notebook_dir = course
    found = bn.targets(source_dir / "01_exercises.py", notebook_dir)
    assert [(t.path, t.solution) for t in found] == [
        (notebook_dir / "01_exercises.ipynb", False),
        (notebook_dir / "solutions" / "01_exercises.ipynb", True),
    ]
    assert len(bn.targets(source_dir / "02_plain.py", notebook_dir)) == 1


# --- --check ----------------------------------------------------------------------------------


def test_check_passes_on_current_notebooks(course: Course) -> None:
    store_all(*course)
    assert bn.check_notebooks(*course) == []


def test_check_reports_missing_notebooks(course: Course) -> None:
    problems = bn.check_notebooks(*course)
    assert len(problems) == 3  # learner and solution of 01, learner of 02
    assert all("is missing" in p and "python3 course.py notebooks" in p for p in problems)


def test_check_reports_a_stale_notebook_with_the_fix(course: Course) -> None:
    source_dir, notebook_dir = course
    store_all(source_dir, notebook_dir)
    write(source_dir / "02_plain.py", PLAIN_SOURCE.replace("6 * 7", "7 * 6"))
    [problem] = bn.check_notebooks(source_dir, notebook_dir)
    assert "02_plain.ipynb is stale: cell 1 differs from" in problem
    assert problem.endswith("rebuild it: python3 course.py notebooks 02_plain")


def test_check_reports_a_changed_tag(course: Course) -> None:
    source_dir, notebook_dir = course
    store_all(source_dir, notebook_dir)
    write(source_dir / "02_plain.py", PLAIN_SOURCE.replace(' tags=["raises-exception"]', ""))
    [problem] = bn.check_notebooks(source_dir, notebook_dir)
    assert "is stale: cell 2 differs" in problem


@pytest.mark.parametrize("counts", [[None, None], [1, None], [2, 1]])
def test_check_reports_unexecuted_notebooks(course: Course, counts: list[int | None]) -> None:
    source_dir, notebook_dir = course
    store_all(source_dir, notebook_dir)
    store_executed(bn.targets(source_dir / "02_plain.py", notebook_dir)[0], counts)
    [problem] = bn.check_notebooks(source_dir, notebook_dir)
    assert "02_plain.ipynb is not stored executed top to bottom" in problem


def test_check_reports_notebooks_without_source(course: Course) -> None:
    source_dir, notebook_dir = course
    store_all(source_dir, notebook_dir)
    (source_dir / "02_plain.py").unlink()
    [problem] = bn.check_notebooks(source_dir, notebook_dir)
    assert "02_plain.ipynb is generated by no source" in problem
    assert bn.check_notebooks(source_dir, notebook_dir, ["01"]) == []


def test_check_command_exits_1_and_names_the_fix(
    course: Course, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source_dir, notebook_dir = course
    monkeypatch.setattr(bn, "SOURCE_DIR", source_dir)
    monkeypatch.setattr(bn, "NOTEBOOK_DIR", notebook_dir)
    assert bn.main(["--check", "02"]) == 1
    assert "rebuild it: python3 course.py notebooks 02_plain" in capsys.readouterr().out
    store_all(source_dir, notebook_dir)
    assert bn.main(["--check"]) == 0


def test_check_of_the_repository_notebooks() -> None:
    if not bn.find_sources(bn.SOURCE_DIR):
        pytest.skip("notebooks/source holds no notebook sources yet")
    problems = bn.check_notebooks(bn.SOURCE_DIR, bn.NOTEBOOK_DIR)
    assert not problems, "\n".join(problems)


LEARNER_NOTEBOOKS = sorted(bn.NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", LEARNER_NOTEBOOKS, ids=lambda path: path.stem)
def test_learner_notebooks_ran_to_the_end_with_every_exercise_not_done(path: Path) -> None:
    """What a learner opens: executed to the last cell, no error, every check "not done yet".

    The build executed these notebooks in a fresh kernel (nbval runs the solution versions);
    this reads what it stored, so the promise is checked without a second run.
    """
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    assert all(cell.execution_count for cell in code), "not stored executed to the end"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} stored an error: {errors[0].ename}"
    printed = "".join(o.get("text", "") for cell in code for o in cell.outputs)
    verdicts = bn.VERDICT.findall(printed)
    check_cells = [cell for cell in code if ".check_" in cell.source]
    assert len(verdicts) >= len(check_cells), "a check cell printed no verdict"
    assert {outcome for _, outcome in verdicts} <= {"not done yet"}, verdicts


def test_the_template_splits_into_learner_and_solution() -> None:
    template = bn.SOURCE_DIR / "_template.py"
    learner, solution = bn.split_source(template.read_text(encoding="utf-8"), str(template))
    assert solution is not None
    code = "\n".join(source for kind, source, _ in learner if kind == "code")
    assert "SEED = " in code and "check(" in code and "# NBVAL_CHECK_OUTPUT" in code
    assert "### " not in code


# --- building ---------------------------------------------------------------------------------


def verdict_notebook(text: str) -> nbformat.NotebookNode:
    notebook = bn.to_notebook([("code", "check(...)", ())])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return notebook


def test_verdict_problems_catch_wrong_solutions_and_leaked_answers() -> None:
    correct = verdict_notebook("Exercise 1.1: correct.\n")
    not_done = verdict_notebook("Exercise 1.2: not done yet — replace the None\n")
    wrong = verdict_notebook("Exercise 1.3: not quite — expected 1, got 2.\n")
    assert bn.verdict_problems(correct, solution=True) == []
    assert bn.verdict_problems(not_done, solution=False) == []
    assert bn.verdict_problems(wrong, solution=True) == [
        "exercise 1.3 does not pass in the solution"
    ]
    assert bn.verdict_problems(correct, solution=False) == [
        "exercise 1.1 already passes in the learner version"
    ]


def test_a_failing_notebook_is_reported_and_not_overwritten(
    course: Course, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source_dir, notebook_dir = course
    store_all(source_dir, notebook_dir)
    stored = (notebook_dir / "02_plain.ipynb").read_bytes()

    def raising(cells: object, cwd: Path, numerics: object = None) -> None:
        raise CellExecutionError("Traceback ...", "ZeroDivisionError", "division by zero")

    monkeypatch.setattr(bn, "execute", raising)
    assert bn.build(bn.find_sources(source_dir, ["02"]), notebook_dir) == 1
    assert "FAILED" in capsys.readouterr().out
    assert (notebook_dir / "02_plain.ipynb").read_bytes() == stored


def test_a_wrong_solution_is_not_written(
    course: Course, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source_dir, notebook_dir = course
    monkeypatch.setattr(
        bn,
        "execute",
        lambda cells, cwd, numerics=None: verdict_notebook("Exercise 1.1: not quite — no.\n"),
    )
    assert bn.build(bn.find_sources(source_dir, ["01"]), notebook_dir) == 1
    assert "exercise 1.1 does not pass in the solution" in capsys.readouterr().out
    assert not (notebook_dir / "01_exercises.ipynb").exists()  # nothing of a failed source
    assert not (notebook_dir / "solutions" / "01_exercises.ipynb").exists()


def test_build_executes_and_stores_a_notebook(tmp_path: Path) -> None:
    """The one test that starts a kernel: a two-cell notebook, executed in its own folder."""
    source_dir, notebook_dir = tmp_path / "source", tmp_path / "out"
    write(source_dir / "01_tiny.py", "# %%\nimport os\nx = 6 * 7\n\n# %%\nprint(x, os.getcwd())\n")
    assert bn.build(bn.find_sources(source_dir), notebook_dir) == 0
    notebook = nbformat.read(notebook_dir / "01_tiny.ipynb", as_version=4)
    assert [cell.execution_count for cell in notebook.cells] == [1, 2]
    assert notebook.cells[1].outputs[0].text == f"42 {notebook_dir.resolve()}\n"
    assert notebook.metadata.kernelspec == bn.KERNELSPEC
    # Complete metadata: JupyterLab would fill in a missing version and mark the file unsaved.
    assert notebook.metadata.language_info.version == platform.python_version()
    assert bn.check_notebooks(source_dir, notebook_dir) == []


def checked_cell(source: str, text: str, count: int = 1) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    cell.id = bn.to_notebook([("code", source, ())]).cells[0].id
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


@pytest.mark.parametrize(
    ("source", "default", "alternate", "refused"),
    [
        ("# NBVAL_CHECK_OUTPUT\nprint(auc)", "0.298\n", "0.297\n", True),
        ("# NBVAL_CHECK_OUTPUT\nprint(rows)", "1000\n", "1000\n", False),
        ("print(auc)", "0.298\n", "0.297\n", False),  # unchecked: nbval ignores it
        (
            "# NBVAL_CHECK_OUTPUT\ncheck(x)",
            "Exercise 1.1: correct.\n",
            "Exercise 1.1: not done yet\n",
            False,
        ),  # verdicts differ between the versions by design
    ],
)
def test_rounding_problems_refuse_checked_outputs_that_move(
    source: str, default: str, alternate: str, refused: bool
) -> None:
    mine, theirs = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    mine.cells, theirs.cells = [checked_cell(source, default)], [checked_cell(source, alternate)]
    problems = bn.rounding_problems(mine, theirs)
    assert bool(problems) == refused
    if refused:
        assert problems[0].startswith("cell 1 is marked # NBVAL_CHECK_OUTPUT")
        assert "assert" in problems[0]


def test_build_refuses_a_checked_output_that_depends_on_numerics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two kernels, one under ALTERNATE_NUMERICS: a checked cell showing them is refused."""
    source_dir, notebook_dir = tmp_path / "source", tmp_path / "out"
    shown = 'import os\nprint(os.environ.get("MKL_ENABLE_INSTRUCTIONS"))'
    write(source_dir / "01_moving.py", f"# %%\n# NBVAL_CHECK_OUTPUT\n{shown}\n")
    assert bn.build(bn.find_sources(source_dir), notebook_dir) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "depends on floating-point rounding" in out
    assert not (notebook_dir / "01_moving.ipynb").exists()


def test_progress_bar_widgets_are_not_stored() -> None:
    """A stored widget would show its creation state (a bar stuck at 0%); text stays."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(3)): pass\nprint('done')")
    bar = {bn.WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "  0%|          | 0/3"}
    cell.outputs = [
        nbformat.v4.new_output("display_data", data=bar),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    notebook.cells = [cell, nbformat.v4.new_markdown_cell("text")]
    kept = bn.drop_widget_outputs(notebook).cells[0].outputs
    assert [output.output_type for output in kept] == ["stream"]
