"""Test collection for the whole repository: which stored notebooks nbval re-executes.

A notebook with exercises is stored twice, as a learner version (``notebooks/NN_name.ipynb``)
and a solution version (``notebooks/solutions/NN_name.ipynb``) built from the same source;
the solution version holds every cell of the learner version plus the solved exercises, and
``tools/build_notebooks.py`` already executes both and refuses a learner notebook whose checks
do not say "not done yet". So the test run re-executes only the solution version of such a
notebook, which halves the notebooks' share of CI time. A learner notebook without a solution
version still runs, and any notebook named explicitly on the command line runs too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip a learner notebook whose solution version will run; None: decide as usual."""
    path = Path(collection_path)
    if path.suffix != ".ipynb" or path.parent != NOTEBOOKS:
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    if path.resolve() in named:
        return None
    return True if (NOTEBOOKS / "solutions" / path.name).is_file() else None


# --- how long each notebook takes -------------------------------------------------------------
# nbval runs a notebook as one test item per cell; the time of a notebook is the sum of its
# items' setup, call and teardown (the kernel starts in the first item's setup). The summary
# is printed at the end of the run and written to TIMINGS, so the README's run times and the
# instructor's plan come from a measurement, not a guess.
TIMINGS = Path(__file__).resolve().parent / ".cache" / "notebook-times.json"
_notebook_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each notebook cell's time to its notebook's total."""
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] = _notebook_seconds.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every notebook's run time and store them in TIMINGS."""
    if not _notebook_seconds:
        return
    seconds = {path: round(total, 1) for path, total in sorted(_notebook_seconds.items())}
    terminalreporter.section("notebook run times (seconds, this machine)")
    for path, total in seconds.items():
        terminalreporter.write_line(f"{total:7.1f}  {path}")
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    record = {"cpu_count": os.cpu_count(), "threads": threads, "seconds": seconds}
    TIMINGS.parent.mkdir(exist_ok=True)
    TIMINGS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
