"""Checks for the exercises of notebook 00 (welcome)."""

from __future__ import annotations

import pandas as pd

from course_lib.exercises.core import check


def check_row_count(answer: object, log: pd.DataFrame) -> None:
    """Exercise 0.1: the number of rows in the bundled log."""
    check("0.1", answer, len(log), hint="len() of a DataFrame counts its rows")


def check_busiest_day(answer: object, log: pd.DataFrame) -> None:
    """Exercise 0.2: the UTC date (YYYY-MM-DD string) with the most events."""
    days = pd.to_datetime(log["timestamp"], unit="s").dt.strftime("%Y-%m-%d")
    check(
        "0.2",
        answer,
        days.value_counts().idxmax(),
        hint="pd.to_datetime(..., unit='s') turns unix seconds into dates; value_counts() "
        "counts each day",
    )
