"""Checks for the exercises of notebook 07 (bring your own data)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_lib.data.schema import LOG_COLUMNS
from course_lib.exercises.core import check


def check_contract_log(answer: object, export: pd.DataFrame) -> None:
    """Exercise 7.1: the export (uid, sku, cat, action, ts_ms) as a contract log."""
    expected = pd.DataFrame(
        {
            "user_id": export["uid"],
            "item_id": export["sku"],
            "category_id": export["cat"],
            "behavior": export["action"],
            "timestamp": export["ts_ms"] // 1000,
        }
    )
    if isinstance(answer, pd.DataFrame):
        answer = answer.reset_index(drop=True)
    check(
        "7.1",
        answer,
        expected[list(LOG_COLUMNS)],
        hint="one column per contract name: user_id <- uid, item_id <- sku, category_id <- cat, "
        "behavior <- action, timestamp <- ts_ms // 1000 (seconds)",
    )


def check_conversion(answer: object, funnel: Sequence[str]) -> None:
    """Exercise 7.2: the conversion is the funnel's last behavior."""
    check(
        "7.2",
        answer,
        funnel[-1],
        hint="prepare(..., behaviors=funnel) counts the funnel's last behavior as the buy",
    )


def check_damped_item_bias(
    answer: object, rating: np.ndarray, item: np.ndarray, chosen: int, damping: float = 10.0
) -> None:
    """Exercise 7.3: an item's bias as ``BiasBaseline(users=False)`` learns it."""
    deviations = rating[item == chosen] - rating.mean()
    check(
        "7.3",
        answer,
        float(deviations.sum() / (len(deviations) + damping)),
        hint="take the item's ratings minus the mean of all training ratings, sum them, and "
        "divide by the item's number of ratings plus the damping (10), not by the number alone",
    )
