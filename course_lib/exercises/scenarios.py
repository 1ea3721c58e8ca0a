"""Checks for the exercises of notebook 10 (one model serving several scenarios)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.exercises.core import check


def check_scenario_table(answer: object, log: pd.DataFrame) -> None:
    """Exercise 10.1: each scenario's share of the events and its buy rate, from the log."""
    expected = pd.DataFrame(
        {
            "share": log["scenario"].value_counts(normalize=True),
            "buy_rate": log.groupby("scenario")["behavior"].apply(lambda b: (b == "buy").mean()),
        }
    )

    def problem(table: object) -> str | None:
        if not isinstance(table, pd.DataFrame):
            return f"expected a DataFrame, got {type(table).__name__}"
        missing = [column for column in ("share", "buy_rate") if column not in table]
        if missing:
            return f"the table has no column {missing[0]!r} (columns: {list(table.columns)})"
        if sorted(map(str, table.index)) != sorted(expected.index):
            return f"the rows should be the scenarios {sorted(expected.index)}, one each"
        for column, what in (("share", "share of the events"), ("buy_rate", "buy rate")):
            got = table[column].reindex(expected.index).to_numpy(dtype=float)
            if not np.allclose(got, expected[column].to_numpy(), atol=1e-9):
                return f"the {what} of at least one scenario is off"
        return None

    check(
        "10.1",
        answer,
        compare=problem,
        hint="group the log by its scenario column: a share counts a scenario's rows over all "
        "rows; a buy rate is the mean of (behavior == 'buy') within the scenario",
    )


def check_star_output(
    answer: object,
    x: np.ndarray,
    shared: tuple[np.ndarray, np.ndarray],
    scenario: tuple[np.ndarray, np.ndarray],
) -> None:
    """Exercise 10.2: one star-topology layer's output for a sample of one scenario."""
    (weight, bias), (scenario_weight, scenario_bias) = shared, scenario
    expected = (weight * scenario_weight) @ x + bias + scenario_bias

    def problem(value: object) -> str | None:
        got = np.asarray(value, dtype=float)
        if got.shape != expected.shape:
            return f"the output should have shape {expected.shape}, not {got.shape}"
        if np.allclose(got, expected):
            return None
        if np.allclose(got, weight @ x + bias) or np.allclose(got, scenario_weight @ x):
            return "the output uses only one of the two weights; STAR combines both"
        if np.allclose(got, (weight * scenario_weight) @ x + bias) or np.allclose(
            got, (weight * scenario_weight) @ x + scenario_bias
        ):
            return "the weight is right, but the bias should be the sum of both biases"
        return "the output differs from (W ⊙ W_s) x + (b + b_s)"

    check(
        "10.2",
        answer,
        compare=problem,
        hint="the scenario's weight multiplies the shared weight entry by entry (W * W_s in "
        "numpy), that product multiplies x as a matrix (@), and the two biases add up",
    )
