"""Beyond accuracy: how much of the catalogue the lists use, and how popular their items are.

Taught in notebook 06. Two lists can hit the held-out items equally often while one offers
everybody the same best sellers and the other spreads over the catalogue. Coverage counts the
catalogue items recommended to anyone; popularity bias compares how popular the recommended
items are with how popular the items users actually turn to are, both as percentiles of the
catalogue's training popularity (``course_lib.recommendation.catalogue_table``).
"""

from __future__ import annotations

import pandas as pd


def catalogue_coverage(recommendations: pd.DataFrame, catalogue_size: int) -> float:
    """Share of the catalogue recommended to at least one user.

    A model that offers everybody the same best sellers covers K items; a personal one much
    more. ``catalogue_size`` is the number of recommendable items (PAD and UNK excluded), e.g.
    ``len(catalogue_table(data))``.
    """
    if catalogue_size < 1:
        raise ValueError(f"catalogue_size must be at least 1, got {catalogue_size}")
    return recommendations["item_id"].nunique() / catalogue_size


def popularity_percentile(popularity: pd.Series) -> pd.Series:
    """Each item's popularity as a percentile of the catalogue, 0 to 100.

    The percentile is the share of catalogue items less popular than the item, items tied with
    it counted half: ``(rank - 0.5) / n * 100`` with average ranks. A uniformly random item
    averages exactly 50.
    """
    return (popularity.rank(method="average") - 0.5) / len(popularity) * 100.0


def popularity_bias(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, popularity: pd.Series
) -> dict[str, float]:
    """How much more popular the recommended items are than the items users turn to.

    Args:
        recommendations: user_id, item_id; each row (slot of a list) counts once.
        relevant: user_id, item_id; each distinct pair counts once.
        popularity: training popularity of every catalogue item, indexed by raw item_id,
            e.g. ``catalogue_table(data).set_index("item_id")["popularity"]``.

    Returns:
        ``recommended`` and ``relevant``: the mean popularity percentile (see
        ``popularity_percentile``) of the recommended and of the relevant items; ``bias``:
        their difference in percentile points, positive when the lists favour popular items
        more than the users' own choices do.
    """
    percentile = popularity_percentile(popularity)
    relevant = relevant[["user_id", "item_id"]].drop_duplicates()
    means = {}
    for name, frame in (("recommended", recommendations), ("relevant", relevant)):
        unknown = ~frame["item_id"].isin(percentile.index)
        if unknown.any():
            raise ValueError(
                f"{int(unknown.sum())} {name} items have no popularity, e.g. "
                f"{frame.loc[unknown, 'item_id'].head().tolist()}. Fix: give the popularity of "
                "every catalogue item (catalogue_table(data))."
            )
        means[name] = float(percentile.loc[frame["item_id"]].mean())
    return {**means, "bias": means["recommended"] - means["relevant"]}
