"""Exercise checking for the notebooks: `check` prints a verdict line and never stops "Run All".

Notebook-specific checkers live next to `core` (one module per notebook) and call `check`;
`difference` helps them write a custom `compare`.
"""

from course_lib.exercises.compare import difference
from course_lib.exercises.core import Verdict, check, evaluate

__all__ = ["Verdict", "check", "difference", "evaluate"]
