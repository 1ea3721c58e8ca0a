"""Calibration of binary probabilities: does p(buy) = 0.2 come true one time in five?

Taught in notebook 06. AUC only checks the order of the scores; a calibrated model's
probabilities can also be used as numbers, e.g. to multiply p(click) by a price. The
probabilities are grouped into bins; in each bin the mean prediction is compared with the
observed rate of positives (``sklearn.calibration.calibration_curve``). A calibrated model
lies on the diagonal. The expected calibration error (ECE) sums the gaps, weighted by the
share of samples in each bin:

    ECE = sum over bins b of (n_b / n) * |observed rate_b - mean prediction_b|

Rare labels need care: with a buy rate of 1%, most probabilities fall into the first uniform
bin; ``strategy="quantile"`` gives every bin the same number of samples instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

Strategy = Literal["uniform", "quantile"]


def calibration_table(
    label: np.ndarray, probability: np.ndarray, n_bins: int = 10, strategy: Strategy = "uniform"
) -> pd.DataFrame:
    """Mean prediction, observed rate and number of samples of every non-empty bin.

    Args:
        label: 0/1 labels.
        probability: predicted probabilities of label 1, in [0, 1].
        n_bins: number of bins.
        strategy: "uniform" (bins of equal width on [0, 1]) or "quantile" (bins of equal
            count), as ``calibration_curve``.

    Returns:
        One row per non-empty bin, in increasing order of prediction: mean_predicted,
        observed_rate, count.

    Shape:
        label, probability: (N,)
    """
    label, probability = np.asarray(label).ravel(), np.asarray(probability).ravel()
    observed, predicted = calibration_curve(label, probability, n_bins=n_bins, strategy=strategy)
    counts = _bin_counts(probability, n_bins, strategy)
    return pd.DataFrame(
        {"mean_predicted": predicted, "observed_rate": observed, "count": counts[counts > 0]}
    )


def expected_calibration_error(
    label: np.ndarray, probability: np.ndarray, n_bins: int = 10, strategy: Strategy = "uniform"
) -> float:
    """The ECE of ``calibration_table``'s bins: their mean |observed - predicted| gap,
    weighted by count. 0 is perfect calibration; it is at most 1."""
    table = calibration_table(label, probability, n_bins, strategy)
    gap = (table["observed_rate"] - table["mean_predicted"]).abs()
    return float((gap * table["count"]).sum() / table["count"].sum())


def _bin_counts(probability: np.ndarray, n_bins: int, strategy: Strategy) -> np.ndarray:
    """Samples per bin, binned exactly as ``calibration_curve`` bins them (its edges and its
    ``searchsorted`` rule); it does not return the counts, which the ECE needs."""
    if strategy == "quantile":
        edges = np.percentile(probability, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.bincount(np.searchsorted(edges[1:-1], probability), minlength=n_bins)
