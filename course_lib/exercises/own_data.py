"""Checks for the exercises of notebook 07 (bring your own data)."""

from __future__ import annotations

from collections.abc import Sequence

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
