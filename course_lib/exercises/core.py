"""Check a learner's exercise answer without stopping "Run All".

A notebook's check cell calls `check`, which prints one line and never raises on a wrong or
missing answer, so the rest of the notebook still runs:

    Exercise 1.2: correct.
    Exercise 1.2: not done yet — replace the None (or ...) with your answer. Hint: ...
    Exercise 1.2: not quite — 1240 is too large, by less than 1%. Hint: ...

`check` returns None, so a check cell shows its line exactly once (IPython would display a
returned object a second time). Code that needs the result, such as tests and checker modules,
calls `evaluate`, which takes the same arguments and returns a `Verdict` without printing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from course_lib.exercises.compare import ATOL, RTOL, difference

Status = Literal["correct", "incorrect", "not done"]
Compare = Callable[[Any], "str | None"]
_NO_EXPECTED = object()  # `expected` left out: the exercise is checked by `compare`


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one exercise answer.

    Attributes:
        exercise: Exercise number as shown to the learner, e.g. "1.2".
        status: "correct", "incorrect" or "not done" (the answer is None or `...`).
        message: The full line `check` prints.
    """

    exercise: str
    status: Status
    message: str

    @property
    def passed(self) -> bool:
        """True when the answer is correct."""
        return self.status == "correct"


def evaluate(
    exercise: str,
    answer: Any,
    expected: Any = _NO_EXPECTED,
    *,
    hint: str,
    compare: Compare | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> Verdict:
    """Judge an answer and return the verdict without printing; never raises on the answer.

    Args:
        exercise: Exercise number, e.g. "1.2".
        answer: The learner's answer. None or `...` (Ellipsis) means "not attempted yet".
        expected: The right answer, compared by `course_lib.exercises.compare.difference`
            (numbers with tolerance, strings, sequences, dicts, sets, numpy arrays, torch
            tensors, pandas Series and DataFrames).
        hint: A nudge shown with every wrong or missing answer ("" for none).
        compare: For exercises without a single right answer: `compare(answer)` returns None
            when the answer is right, else the reason it is wrong. Give `expected` or `compare`.
        rtol: Relative tolerance for floating-point values.
        atol: Absolute tolerance for floating-point values.

    Returns:
        The verdict. An exception raised while comparing (say, by the learner's function that
        `compare` calls) gives an "incorrect" verdict naming the exception.

    Raises:
        ValueError: If neither or both of `expected` and `compare` are given (a mistake in the
            notebook, not in the answer).
    """
    if (expected is _NO_EXPECTED) == (compare is None):
        raise ValueError(f"Exercise {exercise}: give exactly one of `expected` and `compare`.")
    prefix = f"Exercise {exercise}:"
    suffix = f" Hint: {hint}" if hint else ""
    if answer is None or answer is Ellipsis:
        text = f"{prefix} not done yet — replace the None (or ...) with your answer.{suffix}"
        return Verdict(exercise, "not done", text)
    try:
        if compare is not None:
            reason = compare(answer)
        else:
            reason = difference(answer, expected, rtol=rtol, atol=atol)
    except Exception as error:  # the learner's code may raise anything: report it, never stop
        reason = f"checking your answer raised {type(error).__name__}: {error}"
    if reason is None:
        return Verdict(exercise, "correct", f"{prefix} correct.")
    reason = " ".join(str(reason).split()).rstrip(".")  # one line, whatever the reason holds
    return Verdict(exercise, "incorrect", f"{prefix} not quite — {reason}.{suffix}")


def check(
    exercise: str,
    answer: Any,
    expected: Any = _NO_EXPECTED,
    *,
    hint: str,
    compare: Compare | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Print the verdict on an answer as one line: the call to make in a notebook's check cell.

    Takes the same arguments as `evaluate` (see there). Returns None on purpose, so that the
    line appears once; call `evaluate` to get the `Verdict` itself.

    Example:
        >>> check("1.1", 3, 3, hint="Count distinct users.")
        Exercise 1.1: correct.
    """
    verdict = evaluate(
        exercise, answer, expected, hint=hint, compare=compare, rtol=rtol, atol=atol
    )
    print(verdict.message)
