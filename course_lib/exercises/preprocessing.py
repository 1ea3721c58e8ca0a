"""Checks for the exercises of notebook 01 (preprocessing).

Each check computes the expected answer from the notebook's own data, so it stays right when
the data changes, and prints one verdict line through ``check``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from course_lib.data.dataset import BehaviorDataset
from course_lib.exercises.compare import difference
from course_lib.exercises.core import check


def check_buyer_share(answer: object, clean: pd.DataFrame) -> None:
    """Exercise 1.1: the share of users in the clean log who bought at least once."""
    buyers = clean.loc[clean["behavior"] == "buy", "user_id"].nunique()
    check(
        "1.1",
        answer,
        buyers / clean["user_id"].nunique(),
        hint="select the buy rows, count their distinct users, divide by all distinct users",
        rtol=1e-6,
    )


def check_time_cut(answer: object, window: tuple[int, int]) -> None:
    """Exercise 1.2: (valid_start, test_start) for a 1-day validation and 2-day test period."""
    end = window[1]
    check(
        "1.2",
        answer,
        (end - 3 * 86_400, end - 2 * 86_400),
        hint="count back from the window's end; a day is 86,400 seconds",
    )


def check_history_function(
    answer: Callable[[int], np.ndarray] | None, dataset: BehaviorDataset
) -> None:
    """Exercise 1.3: a function giving the item history of a sample, like the Dataset's."""

    def same_as_dataset(history_of: Callable[[int], np.ndarray]) -> str | None:
        rng = np.random.default_rng(0)
        short = np.flatnonzero(dataset.samples.target - dataset.history_start < dataset.max_len)
        probes = [0, len(dataset) - 1, *rng.choice(len(dataset), 20), *short[:5]]
        for index in probes:
            expected = dataset[int(index)]["history_item"].numpy()
            reason = difference(np.asarray(history_of(int(index))), expected)
            if reason is not None:
                return f"for sample {int(index)}: {reason}"
        return None

    check(
        "1.3",
        answer,
        hint="the history ends just before the target position and starts at the later of "
        "the user's first event and target - max_len",
        compare=same_as_dataset,
    )
