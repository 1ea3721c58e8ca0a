"""Checks for the exercises of notebook 07 (bring your own data)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_lib.data.features import Feature
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


def check_side_features(answer: object, users: pd.DataFrame, movies: pd.DataFrame) -> None:
    """Exercise 7.4: the side features of a movie log, declared as ``Feature`` objects.

    Right: every user column but the id, each movie's genres (several values in one string)
    and its year (a number); not the title, which names one movie only, as its id does.
    """
    wanted = {  # (source, column) -> kind
        **{("user", column): "categorical" for column in users.columns if column != "user_id"},
        ("item", "genres"): "multi",
        ("item", "year"): "numeric",
    }
    check(
        "7.4",
        answer,
        compare=lambda features: _side_feature_problem(features, wanted, users, movies),
        hint="one Feature(name, source, kind) per column worth reading; a column holding "
        "several values in one string, a number, and a text unique to each movie each need "
        "a different decision",
    )


def _side_feature_problem(
    features: object, wanted: dict, users: pd.DataFrame, movies: pd.DataFrame
) -> str | None:
    """Why the declarations are wrong, without naming the right kind; None when right."""
    if not isinstance(features, list | tuple) or not all(
        isinstance(feature, Feature) for feature in features
    ):
        return "give a list of Feature(...) declarations"
    tables = {"user": users, "item": movies}
    declared = {}
    for feature in features:
        column = feature.table_column
        if column not in tables[feature.source]:
            where = f"the {feature.source}s table"
            return f"{feature.name!r} reads column {column!r}, which {where} lacks"
        declared[(feature.source, column)] = feature
    if ("item", "title") in declared:
        return "the title is declared: it names one movie, as the item id already does"
    for (source, column), kind in wanted.items():
        feature = declared.get((source, column))
        if feature is None:
            return f"the {source}s table's column {column!r} is not declared"
        if feature.kind != kind:
            kind_given = f"kind={feature.kind!r}"
            return f"{feature.name!r} is declared {kind_given}, which does not fit its values"
    return None
