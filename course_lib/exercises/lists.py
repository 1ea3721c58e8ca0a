"""Checks for the exercises of notebook 06 (recommendation lists and their evaluation)."""

from __future__ import annotations

from collections.abc import Sequence, Set

import pandas as pd

from course_lib.exercises.core import check


def check_precision_recall(answer: object, recommended: Sequence[int], relevant: Set[int]) -> None:
    """Exercise 6.1: (precision@K, recall@K) of one list, K its length."""
    hits = len(set(recommended) & set(relevant))
    check(
        "6.1",
        None if answer is None else tuple(answer),
        (hits / len(recommended), hits / len(relevant)),
        hint="hits = items both recommended and relevant; precision divides by the list's "
        "length, recall by the number of relevant items",
    )


def check_distinct_items(answer: object, recommendations: pd.DataFrame) -> None:
    """Exercise 6.2: how many distinct items the lists contain."""
    check(
        "6.2",
        answer,
        int(recommendations["item_id"].nunique()),
        hint="count the distinct values of the item_id column (Series.nunique)",
    )


def check_sampling_factor(answer: object, protocols: pd.DataFrame, num_sampled: int) -> None:
    """Exercise 6.3: sampled HR@10 over full-catalogue HR@10 on the temporal split."""
    temporal = protocols.loc["leave-last-out (temporal)", "HR@10"]
    check(
        "6.3",
        answer,
        float(temporal[f"{num_sampled} sampled negatives"] / temporal["full catalogue"]),
        hint="select protocols.loc['leave-last-out (temporal)', 'HR@10'], then divide the "
        "sampled row by the full-catalogue row",
        rtol=1e-6,
    )
