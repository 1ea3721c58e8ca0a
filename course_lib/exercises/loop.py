"""Checks for the exercises of notebook 08 (the recommender in the world)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_lib.exercises.core import check

EXPOSURES = {  # exposure patterns the Gini is checked on, by name
    "every item shown equally": np.full(8, 5.0),
    "one item shown, seven never": np.r_[np.zeros(7), 12.0],
    "a ramp 1, 2, ..., 10": np.arange(1.0, 11.0),
    "unsorted counts": np.array([9.0, 0.0, 3.0, 3.0, 1.0, 20.0]),
}


def check_gini(answer: object, reference: Callable[[np.ndarray], float]) -> None:
    """Exercise 8.1: the Gini coefficient of impressions, against ``reference`` (loop.gini)."""

    def problem(function: Callable) -> str | None:
        for name, counts in EXPOSURES.items():
            got = float(function(counts.copy()))
            if not np.isclose(got, reference(counts), atol=1e-9):
                return f"for {name} your function gives {got:.4f}, which is not its Gini"
        return None

    check(
        "8.1",
        answer,
        compare=problem,
        hint="sort the counts first; i runs from 1 to n; divide by n times the total count",
    )


def check_epsilon_greedy(answer: object) -> None:
    """Exercise 8.2: one slate, each place replaced with probability epsilon by another item."""
    slate, num_items = np.array([3, 7, 1, 9, 4]), 30

    def problem(function: Callable) -> str | None:
        rng = np.random.default_rng(0)
        same = function(slate.copy(), 0.0, num_items, rng)
        if not np.array_equal(same, slate):
            return "with epsilon = 0 the slate must come back unchanged"
        replaced = []
        for _ in range(400):
            out = np.asarray(function(slate.copy(), 0.3, num_items, rng))
            if len(out) != len(slate) or len(set(out.tolist())) != len(slate):
                return "a slate must keep its size and show no item twice"
            if not set(out.tolist()) <= set(range(num_items)):
                return "every item must be one of the catalogue's 0 .. num_items - 1"
            changed = out != slate
            if np.isin(out[changed], slate).any():
                return "a replaced place shows an item that was already in the slate"
            replaced.append(changed.mean())
        share = float(np.mean(replaced))
        if abs(share - 0.3) > 0.05:
            return f"with epsilon = 0.3 your function replaces {share:.0%} of the places"
        return None

    check(
        "8.2",
        answer,
        compare=problem,
        hint="draw one uniform number per place and compare it with epsilon; take the "
        "replacements from the items not in the slate, without repeats",
    )
