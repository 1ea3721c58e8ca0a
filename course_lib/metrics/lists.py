"""Metrics of top-K recommendation lists against held-out items, beyond one average.

Taught in notebook 06. A list is judged against the user's *relevant* items R (the items of
their held-out events; one with leave-last-out, possibly several with a time cut). With L the
top K of the list and ``hits`` = |L ∩ R|:

| metric      | per user                                      | reads as                    |
| ----------- | --------------------------------------------- | --------------------------- |
| precision@K | hits / K                                      | share of the list that hits |
| recall@K    | hits / |R|                                    | share of R that is found    |
| HR@K        | 1 if hits > 0                                 | was anything found          |
| NDCG@K      | sum over hits of 1 / log2(rank + 1), over its | hits, discounted by rank    |
|             | best value                                    |                             |

The best value of NDCG's sum puts min(|R|, K) hits at ranks 1, 2, ...; with one relevant item
NDCG@K is 1 / log2(rank + 1), the same as ``ranking.ranking_metrics`` computes from scores.
scikit-learn's ``ndcg_score`` gives the same mean from dense score matrices, but no per-user
values, which the break-down by history length needs.

Lists and relevant items are DataFrames of raw ids, as ``course_lib.recommendation`` returns them:
``recommendations`` has columns user_id, rank (1 = best), item_id; ``relevant`` has user_id,
item_id. Averages are over the users of ``relevant``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd


def per_user_list_metrics(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int
) -> pd.DataFrame:
    """precision@K, recall@K, NDCG@K and HR@K of every user of ``relevant``.

    Args:
        recommendations: user_id, rank, item_id; only ranks 1..k count.
        relevant: user_id, item_id; repeated pairs count once.
        k: the cut-off K; the lists must be at least that long.

    Returns:
        A frame indexed by user_id with columns num_relevant, hits, precision@K, recall@K,
        NDCG@K, HR@K (K replaced by its value).
    """
    _check_lists(recommendations, relevant, k)
    relevant = relevant[["user_id", "item_id"]].drop_duplicates()
    top = recommendations.loc[recommendations["rank"] <= k, ["user_id", "rank", "item_id"]]
    hits = top.merge(relevant, on=["user_id", "item_id"])  # one row per hit
    users = relevant.groupby("user_id").size().rename("num_relevant").to_frame()
    users["hits"] = hits.groupby("user_id").size()
    users["dcg"] = (1.0 / np.log2(hits["rank"] + 1.0)).groupby(hits["user_id"]).sum()
    users = users.fillna(0.0)
    best = np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1.0))  # (k,) best DCG of 1..k hits
    ideal = best[np.minimum(users["num_relevant"].to_numpy(), k) - 1]  # (U,) per user
    return pd.DataFrame(
        {
            "num_relevant": users["num_relevant"],
            "hits": users["hits"].astype(np.int64),
            f"precision@{k}": users["hits"] / k,
            f"recall@{k}": users["hits"] / users["num_relevant"],
            f"NDCG@{k}": users["dcg"] / ideal,
            f"HR@{k}": (users["hits"] > 0).astype(float),
        }
    )


def list_metrics(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int
) -> dict[str, float]:
    """The means over users of ``per_user_list_metrics``: {"precision@10": ..., ...}."""
    per_user = per_user_list_metrics(recommendations, relevant, k)
    return per_user.drop(columns=["num_relevant", "hits"]).mean().to_dict()


def metrics_by_history_length(
    per_user: pd.DataFrame, history_length: pd.Series, edges: Sequence[int] = (1, 5, 10, 20)
) -> pd.DataFrame:
    """Per-user metrics averaged within buckets of history length; cold start is the first.

    Args:
        per_user: indexed by user_id, e.g. ``per_user_list_metrics(...)``.
        history_length: events before the cut of every user, indexed by user_id (e.g.
            ``history_lengths(data, users, until="test")``).
        edges: the lower bound of each bucket, increasing: (1, 5, 10, 20) gives 1–4, 5–9,
            10–19 and 20+.

    Returns:
        One row per bucket (empty ones included, with NaN metrics): users, and the mean of
        every column of ``per_user``.
    """
    edges = list(edges)
    if edges != sorted(set(edges)) or not edges:
        raise ValueError(f"edges must be strictly increasing lower bounds, got {edges}")
    labels = [f"{low}–{high - 1}" for low, high in pairwise(edges)] + [f"{edges[-1]}+"]
    length = history_length.reindex(per_user.index)
    if length.isna().any() or (length < edges[0]).any():
        raise ValueError(
            f"every user of per_user needs a history_length of at least {edges[0]}; "
            f"missing or shorter: {length[length.isna() | (length < edges[0])].index[:5].tolist()}"
        )
    bucket = pd.cut(length, [*edges, np.inf], right=False, labels=labels)
    grouped = per_user.groupby(bucket, observed=False)
    return pd.concat([grouped.size().rename("users"), grouped.mean()], axis=1).rename_axis(
        "history_length"
    )


def _check_lists(recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int) -> None:
    """Raise when K does not fit the lists or some relevant user has no list."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    longest = int(recommendations["rank"].max()) if len(recommendations) else 0
    if k > longest:
        raise ValueError(
            f"the lists hold at most {longest} items, so precision@{k} would count missing "
            f"slots as misses. Fix: recommend with k={k}, or ask for k <= {longest}."
        )
    missing = ~relevant["user_id"].isin(recommendations["user_id"])
    if missing.any():
        raise ValueError(
            f"{relevant.loc[missing, 'user_id'].nunique()} users have relevant items but no "
            f"list, e.g. {relevant.loc[missing, 'user_id'].head().tolist()}. Fix: recommend "
            "for every user of relevant, e.g. relevant['user_id'].unique()."
        )
