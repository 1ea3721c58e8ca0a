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
