"""How unequal a recommender's exposure is: the Gini coefficient of impressions (notebook 08)."""

from __future__ import annotations

import numpy as np


def gini(counts: np.ndarray) -> float:
    """The Gini coefficient of non-negative counts: 0 when every item is shown equally often,
    near 1 when a few items get every impression.

    It is the mean absolute difference between two items' counts, over twice the mean count:
    with counts sorted ascending, ``sum((2i - n - 1) * c_i) / (n * sum(c))`` for i = 1..n.
    """
    counts = np.sort(np.asarray(counts, dtype=float))
    n, total = len(counts), counts.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * counts).sum() / (n * total))
