"""Checks for the exercises of notebook 09 (training without collecting users' logs)."""

from __future__ import annotations

import numpy as np

from course_lib.exercises.core import check


def check_weighted_average(answer: object, weights: list[np.ndarray], counts: list[int]) -> None:
    """Exercise 9.1: the server's average of the clients' weights, by sample count."""
    shares = np.asarray(counts, dtype=float) / sum(counts)
    expected = sum(
        share * np.asarray(w, dtype=float) for share, w in zip(shares, weights, strict=True)
    )
    check(
        "9.1",
        None if answer is None else np.asarray(answer, dtype=float),
        expected,
        hint="each client counts in proportion to its number of samples: multiply each "
        "client's weights by its share of all the samples, then add them up",
    )


def check_smallest_noise(answer: object, budgets: dict[float, float], limit: float) -> None:
    """Exercise 9.2: the smallest noise multiplier whose epsilon stays within ``limit``."""
    within = [noise for noise, epsilon in sorted(budgets.items()) if epsilon <= limit]

    def problem(noise: object) -> str | None:
        if noise not in budgets:
            return f"{noise!r} is not one of the noise multipliers {sorted(budgets)}"
        if budgets[noise] > limit:
            return f"with {noise} the budget is epsilon = {budgets[noise]:.2f}, over {limit}"
        if noise != within[0]:
            return f"{noise} keeps within the budget, but a smaller multiplier does too"
        return None

    check(
        "9.2",
        answer,
        compare=problem,
        hint="compute privacy_epsilon for each multiplier; more noise spends less budget, "
        "and less noise keeps more accuracy",
    )
