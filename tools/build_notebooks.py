"""Build the course notebooks from their sources: the one way stored notebooks are made.

Each `notebooks/source/NN_name.py` (jupytext percent format; files starting with `_` are
skipped) becomes the learner notebook `notebooks/NN_name.ipynb` and, when it holds solution
markers, the solution notebook `notebooks/solutions/NN_name.ipynb`. Both are executed top to
bottom in a fresh kernel, in their own folder, and stored with their outputs.

Checked outputs must not depend on floating-point rounding. Learners' CPUs and thread counts
round differently, so a cell marked `NBVAL_CHECK_OUTPUT` may show counts, shapes, data
statistics and verdicts, never a trained number. The build enforces it: the solution version
runs with the default numerics and the learner version with other numerics (AVX2 kernels in
ATen, MKL and oneDNN, and one thread; see ALTERNATE_NUMERICS); a checked cell present in both
whose outputs differ is refused, and neither notebook is written. A source without solutions
is executed twice for the same comparison.

Solution markers, inside code cells (each marker is a whole line):

    answer = None  ### STUB         <- learner version only, without the marker
    ### BEGIN SOLUTION
    answer = log["user_id"].nunique()   <- solution version only
    ### END SOLUTION

A cell tagged `solution` (`# %% tags=["solution"]`) appears in the solution version only.

Usage:
    python tools/build_notebooks.py            # build every notebook
    python tools/build_notebooks.py 01 03_x    # build only these (number, name or path)
    python tools/build_notebooks.py --check    # verify stored notebooks are current; no kernels
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "notebooks" / "source"
NOTEBOOK_DIR = ROOT / "notebooks"
SOLUTIONS = "solutions"  # subfolder of the notebook folder for solution notebooks
FIX_COMMAND = "python3 course.py notebooks"

BEGIN, END, STUB = "### BEGIN SOLUTION", "### END SOLUTION", "### STUB"
SOLUTION_TAG = "solution"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CELL_TIMEOUT_S = 900
# Numerics for the second run of each source: other vector kernels and one thread change the
# rounding of training (measured: an LSTM's loss after 30 steps moves in the 8th digit), as a
# learner's other CPU would. The CPU must support AVX2 (every x86-64 CPU since 2013).
ALTERNATE_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OMP_NUM_THREADS": "1",
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CHECK_MARKER, CHECK_TAG = "# NBVAL_CHECK_OUTPUT", "nbval-check-output"
# One verdict line printed by course_lib.exercises.check, e.g. "Exercise 1.2: correct."
VERDICT = re.compile(r"^Exercise (\S+): (correct\.|not done yet|not quite)", re.MULTILINE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

Cell = tuple[str, str, tuple[str, ...]]  # (cell_type, source, tags): what a stored cell must be


class Target(NamedTuple):
    """A notebook one source generates."""

    path: Path  # where it is stored
    cells: list[Cell]
    solution: bool  # the solution version (else the learner version)


class BuildError(ValueError):
    """A notebook source or a requested name that cannot be built; the message says why."""


def split_code(source: str, where: str) -> tuple[str, str]:
    """Split one code cell's source into its learner and solution versions.

    Args:
        source: The cell's code with solution markers.
        where: The cell's location for error messages, e.g. "notebooks/source/01_x.py, cell 7".

    Returns:
        (learner, solution) sources.

    Raises:
        BuildError: If markers are unbalanced, nested, misspelled or a STUB is inside a
            solution block.
    """
    learner: list[str] = []
    solution: list[str] = []
    begin_line = 0  # line of the open BEGIN marker; 0 outside a solution block
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        spoken = "### " + marker.lstrip("#").strip().upper()
        if spoken in (BEGIN, END) and marker != spoken:
            raise BuildError(f"{where}, line {number}: write the marker exactly as {spoken!r}")
        if marker == BEGIN:
            if begin_line:
                raise BuildError(f"{where}, line {number}: nested {BEGIN}; close the first")
            begin_line = number
        elif marker == END:
            if not begin_line:
                raise BuildError(f"{where}, line {number}: {END} without {BEGIN}")
            begin_line = 0
        elif line.rstrip().endswith(STUB):
            if begin_line:
                raise BuildError(f"{where}, line {number}: {STUB} inside a solution block")
            learner.append(line.rstrip()[: -len(STUB)].rstrip())
        elif begin_line:
            solution.append(line)
        else:
            learner.append(line)
            solution.append(line)
    if begin_line:
        raise BuildError(f"{where}, line {begin_line}: {BEGIN} is never closed; add {END}")
    return "\n".join(learner), "\n".join(solution)


def split_source(text: str, where: str) -> tuple[list[Cell], list[Cell] | None]:
    """Turn a percent-format source into the learner and solution notebooks' cells.

    Args:
        text: The source file's content.
        where: The source's path, for error messages.

    Returns:
        (learner cells, solution cells); solution cells are None when the source has no
        solution markers and no cell tagged `solution`.
    """
    notebook = jupytext.reads(text, fmt="py:percent")
    learner: list[Cell] = []
    solution: list[Cell] = []
    for number, cell in enumerate(notebook.cells, start=1):
        tags = tuple(cell.metadata.get("tags", ()))
        kept_tags = tuple(tag for tag in tags if tag != SOLUTION_TAG)
        mine, theirs = cell.source, cell.source
        if cell.cell_type == "code":
            mine, theirs = split_code(cell.source, f"{where}, cell {number}")
        if SOLUTION_TAG not in tags:
            learner.append((cell.cell_type, mine, kept_tags))
        solution.append((cell.cell_type, theirs, kept_tags))
    return learner, (solution if solution != learner else None)


def to_notebook(cells: Sequence[Cell]) -> NotebookNode:
    """A clean nbformat 4 notebook: python3 kernelspec, content-derived cell ids, no outputs."""
    makers = {
        "code": nbformat.v4.new_code_cell,
        "markdown": nbformat.v4.new_markdown_cell,
        "raw": nbformat.v4.new_raw_cell,
    }
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": dict(KERNELSPEC)})
    seen: Counter[str] = Counter()
    for kind, source, tags in cells:
        cell = makers[kind](source)
        if tags:
            cell.metadata["tags"] = list(tags)
        # Ids from content, not random: rebuilding an unchanged notebook changes no byte.
        digest = hashlib.sha256(f"{kind}\n{source}".encode()).hexdigest()[:12]
        seen[digest] += 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        notebook.cells.append(cell)
    return notebook


def cells_of(notebook: NotebookNode) -> list[Cell]:
    """The (cell_type, source, tags) of every cell of a stored notebook."""
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in notebook.cells]


def find_sources(source_dir: Path, names: Sequence[str] = ()) -> list[Path]:
    """The notebook sources to build, in order; all of them when `names` is empty.

    Raises:
        BuildError: If a name matches no source.
    """
    sources = sorted(p for p in source_dir.glob("*.py") if not p.name.startswith("_"))
    chosen: list[Path] = []
    for name in names:
        stem = Path(name).stem
        matches = [p for p in sources if p.stem == stem or p.stem.startswith(stem + "_")]
        if not matches:
            known = ", ".join(p.stem for p in sources) or "none"
            raise BuildError(f"no notebook source matches {name!r} (sources: {known})")
        chosen += [p for p in matches if p not in chosen]
    return chosen if names else sources


def targets(source: Path, notebook_dir: Path) -> list[Target]:
    """The notebooks one source generates, learner version first."""
    learner, solution = split_source(source.read_text(encoding="utf-8"), _shown(source))
    result = [Target(notebook_dir / f"{source.stem}.ipynb", learner, solution=False)]
    if solution is not None:
        path = notebook_dir / SOLUTIONS / f"{source.stem}.ipynb"
        result.append(Target(path, solution, solution=True))
    return result


def check_notebooks(source_dir: Path, notebook_dir: Path, names: Sequence[str] = ()) -> list[str]:
    """Problems with the stored notebooks, without executing anything; empty when all is well.

    Every notebook a source generates must exist, hold exactly the generated cells (type,
    source, tags) and be stored executed (non-empty code cells numbered in increasing order).
    Without `names`, every stored notebook must also come from a source.
    """
    problems: list[str] = []
    expected: set[Path] = set()
    for source in find_sources(source_dir, names):
        fix = f"rebuild it: {FIX_COMMAND} {source.stem}"
        for target in targets(source, notebook_dir):
            expected.add(target.path)
            problem = _stored_problem(target.path, target.cells, _shown(source))
            if problem:
                problems.append(f"{_shown(target.path)} {problem}; {fix}")
    if not names:
        stored = [*notebook_dir.glob("*.ipynb"), *(notebook_dir / SOLUTIONS).glob("*.ipynb")]
        for path in sorted(set(stored) - expected):
            problems.append(
                f"{_shown(path)} is generated by no source in {_shown(source_dir)}; "
                "delete it or restore its source"
            )
    return problems


def _stored_problem(path: Path, cells: list[Cell], source: str) -> str | None:
    if not path.exists():
        return "is missing"
    try:
        stored = nbformat.read(path, as_version=4)
    except Exception as error:  # any unreadable file is reported, whatever broke it
        return f"cannot be read ({type(error).__name__}: {error})"
    stored_cells = cells_of(stored)
    if stored_cells != cells:
        pairs = enumerate(zip(stored_cells, cells, strict=False), start=1)
        differing = [number for number, (old, new) in pairs if old != new]
        where = f"cell {differing[0]}" if differing else "the number of cells"
        return f"is stale: {where} differs from {source}"
    counts = [
        c.execution_count for c in stored.cells if c.cell_type == "code" and c.source.strip()
    ]
    if None in counts or any(b <= a for a, b in itertools.pairwise(counts)):
        return "is not stored executed top to bottom (missing or out-of-order execution counts)"
    return None


def execute(
    cells: Sequence[Cell], cwd: Path, numerics: dict[str, str] | None = None
) -> NotebookNode:
    """Run a notebook made of `cells` top to bottom in a fresh python3 kernel.

    Args:
        cells: The notebook's cells (no outputs: the run starts from a clean notebook).
        cwd: The kernel's working directory: the folder the notebook is stored in.
        numerics: Environment variables added to the kernel's (e.g. ALTERNATE_NUMERICS);
            None runs with this process's environment.

    Returns:
        The executed notebook, with outputs and without volatile metadata.

    Raises:
        nbclient.exceptions.CellExecutionError: If a cell raises.
    """
    notebook = to_notebook(cells)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        store_widget_state=False,
    ).execute(env={**os.environ, **(numerics or {})})
    return drop_widget_outputs(notebook)


def drop_widget_outputs(notebook: NotebookNode) -> NotebookNode:
    """Remove the outputs that display a widget, such as a tqdm progress bar.

    A widget's view points at a model whose state is not stored, and its text is the widget as
    it was created (a bar at 0%): stored, it would show a stuck bar. A learner who runs the
    cell sees the live widget.
    """
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
    return notebook


def verdict_problems(notebook: NotebookNode, *, solution: bool) -> list[str]:
    """Exercise checks that contradict the notebook's version, from its printed verdicts.

    A solution notebook must pass every check; a learner notebook must pass none (a pass there
    means an answer was left in).
    """
    problems = []
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            for exercise, outcome in VERDICT.findall(output.get("text", "")):
                if solution and outcome != "correct.":
                    problems.append(f"exercise {exercise} does not pass in the solution")
                if not solution and outcome == "correct.":
                    problems.append(f"exercise {exercise} already passes in the learner version")
    return problems


def is_checked(cell: NotebookNode) -> bool:
    """True when nbval compares this cell's outputs (a whole-line marker or the tag)."""
    lines = [line.strip() for line in cell.source.splitlines()]
    return CHECK_MARKER in lines or CHECK_TAG in cell.metadata.get("tags", ())


def output_text(cell: NotebookNode) -> list[str]:
    """The parts of a cell's outputs that nbval compares: text streams, text and errors."""
    parts = []
    for output in cell.get("outputs", ()):
        if output.output_type == "stream":
            parts.append(f"{output.name}: {output.text}")
        elif output.output_type == "error":
            parts.append(f"error: {output.ename}: {output.evalue}")
        else:
            data = output.get("data", {})
            parts += [
                f"{mime}: {data[mime]}" for mime in ("text/plain", "text/html") if mime in data
            ]
    return parts


def rounding_problems(default: NotebookNode, alternate: NotebookNode) -> list[str]:
    """Checked cells whose outputs differ between two runs under different numerics.

    Cells are paired by id (ids come from the content, so a cell with the same source in the
    learner and solution versions has the same id). Cells that print exercise verdicts are left
    out: their lines differ between the versions by design and `verdict_problems` checks them.
    """
    others = {cell.id: cell for cell in alternate.cells}
    problems = []
    for number, cell in enumerate(default.cells, start=1):
        other = others.get(cell.id)
        if other is None or cell.cell_type != "code" or not is_checked(cell):
            continue
        mine, theirs = output_text(cell), output_text(other)
        printed = "".join(o.get("text", "") for o in [*cell.outputs, *other.outputs])
        if VERDICT.search(printed) or mine == theirs:
            continue
        problems.append(
            f"cell {number} is marked {CHECK_MARKER} but its output depends on floating-point "
            "rounding (it changed under other numerics): show trained numbers unchecked and "
            "guard them with an assert and a tolerance"
        )
    return problems


def build(sources: Sequence[Path], notebook_dir: Path) -> int:
    """Execute and store every notebook the sources generate; returns how many failed.

    The first target of a source (the learner version) runs under ALTERNATE_NUMERICS, the
    second (the solution version) under the default ones, and their checked cells must agree;
    a source with one target runs it once more for the comparison. Nothing of a source is
    written unless all of its runs pass.
    """
    failures = 0
    for source in sources:
        runs: list[tuple[Target, NotebookNode]] = []
        made = targets(source, notebook_dir)
        plan = [(made[0], ALTERNATE_NUMERICS), *((t, None) for t in made[1:])]
        if len(made) == 1:
            plan.append((made[0], None))
        for target, numerics in plan:
            target.path.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            try:
                notebook = execute(target.cells, target.path.parent, numerics)
            except (CellControlSignal, DeadKernelError) as error:
                message = ANSI_ESCAPE.sub("", str(error))
                print(f"FAILED {_shown(target.path)} (not written):\n{message}", flush=True)
                break
            problems = verdict_problems(notebook, solution=target.solution)
            if problems:
                print(f"FAILED {_shown(target.path)} (not written): {'; '.join(problems)}")
                break
            seconds = time.perf_counter() - start
            how = "other numerics" if numerics else "default numerics"
            print(f"ran    {_shown(target.path)}  {seconds:.1f} s  ({how})", flush=True)
            runs.append((target, notebook))
        else:
            problems = rounding_problems(runs[-1][1], runs[0][1])
            if not problems:
                stored = {target.path: notebook for target, notebook in runs}  # last run wins
                for path, notebook in stored.items():
                    text = nbformat.writes(notebook) + "\n"
                    path.write_text(text, encoding="utf-8", newline="\n")
                    print(f"stored {_shown(path)}", flush=True)
                continue
            print(f"FAILED {_shown(source)} (nothing written): {'; '.join(problems)}", flush=True)
        failures += 1
    return failures


def _shown(path: Path) -> str:
    """A path for messages: relative to the repository when inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _prepare_environment() -> None:
    # PyTorch's OpenMP threads busy-wait by default, which slows a shared 2-core CPU ~7x.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Kernels inherit the environment: an inherited MPLBACKEND (Agg) would drop inline figures.
    if os.environ.pop("MPLBACKEND", None):
        print("note: MPLBACKEND unset for the kernels, so figures are stored inline")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="notebooks to build (e.g. 01 or 01_name)")
    parser.add_argument(
        "--check", action="store_true", help="verify stored notebooks without executing"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check_notebooks(SOURCE_DIR, NOTEBOOK_DIR, args.names)
            for problem in problems:
                print(problem)
            print(
                f"{len(problems)} problem(s)" if problems else "all stored notebooks are current"
            )
            return 1 if problems else 0
        sources = find_sources(SOURCE_DIR, args.names)
        _prepare_environment()
        print(f"building {len(sources)} notebook source(s) from {_shown(SOURCE_DIR)}")
        failures = build(sources, NOTEBOOK_DIR)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if failures:
        print(f"{failures} notebook(s) failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
