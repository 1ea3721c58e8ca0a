"""Checks for the exercises of notebook 04 (single- versus multi-task)."""

from __future__ import annotations

import math

import pandas as pd

from course_lib.exercises.core import check
from course_lib.tasks import Task

EXPECTED_TASK = Task("category_match", "binary", "click", weight=0.5)


def _task_differences(task: object) -> str | None:
    """None when ``task`` is the asked declaration, else the fields that differ."""
    if not isinstance(task, Task):
        return f"expected a Task, got {type(task).__name__}"
    fields = ("name", "kind", "label", "num_classes", "only_positives", "weight")
    wrong = [f for f in fields if getattr(task, f) != getattr(EXPECTED_TASK, f)]
    if wrong:
        return "these fields are not as asked: " + ", ".join(
            f"{f}={getattr(task, f)!r}" for f in wrong
        )
    return None


def check_task_declaration(answer: object) -> None:
    """Exercise 4.1: a binary task named category_match on the click label, weight 0.5."""
    check(
        "4.1",
        answer,
        hint="Task(name, kind, label, ...) with the weight given by keyword",
        compare=_task_differences,
    )


def check_cascade(answer: object, click_logit: float, conversion_logit: float) -> None:
    """Exercise 4.2: p(click and buy) = sigmoid(a) * sigmoid(c)."""

    def sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    check(
        "4.2",
        answer,
        sigmoid(click_logit) * sigmoid(conversion_logit),
        hint="turn each logit into a probability with the sigmoid, then multiply",
        rtol=1e-4,
    )


def check_best_for_buy(answer: object, table: pd.DataFrame) -> None:
    """Exercise 4.3: the multi-task model with the highest mean buy AUC in ``table``."""
    buy = table[("buy AUC", "mean")]
    multi_task = buy[~buy.index.str.startswith("single-task")]
    check(
        "4.3",
        answer,
        multi_task.idxmax(),
        hint="select the ('buy AUC', 'mean') column, drop the single-task rows, use idxmax()",
    )
