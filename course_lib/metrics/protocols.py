"""Two evaluation protocols from the same scores: the full catalogue versus sampled negatives.

Taught in notebook 06. Many papers rank the target among N items drawn at random (often 100)
rather than among the whole catalogue. The target can only climb when its rivals are a sample:
its rank among N negatives is never worse than its rank among all items, and with 2,000 items
a target at full rank 100 lands around rank 5 of 100 negatives. HR@10 and NDCG@10 then look far
better, and the two protocols can even order models differently (Krichene and Rendle, "On
Sampled Metrics for Item Recommendation", KDD 2020). Both use ``ranking.rank_of_target``: the
sampled protocol is the full one with every item outside the sample excluded.

Negatives are drawn uniformly, without replacement, from the real items (not PAD or UNK) that
are neither the target nor excluded (e.g. the user's history, ``ranking.history_mask``). When
N covers that pool, the sample is the whole pool and both protocols agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from course_lib.data.vocab import NUM_RESERVED
from course_lib.metrics.ranking import rank_of_target, ranking_metrics


def sampled_negatives(
    target: torch.Tensor,
    num_items: int,
    num_negatives: int = 100,
    exclude: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Mark ``num_negatives`` items per row, drawn uniformly from the pool without replacement.

    Each row gets a random key per item from a seeded generator and keeps the pool items with
    the smallest keys, so the same seed gives the same negatives on any device.

    Args:
        target: the target item of each row; never drawn.
        num_items: the item vocabulary size V (PAD and UNK included).
        num_negatives: N; a row whose pool is smaller gets its whole pool.
        exclude: True at items never drawn, e.g. ``history_mask(...)``.
        seed: seeds the draw.

    Shape:
        target: (B,); exclude: (B, V) bool -> (B, V) bool
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
    B, device = len(target), target.device
    generator = torch.Generator().manual_seed(seed)
    keys = torch.rand(B, num_items, generator=generator).to(device)  # (B, V)
    pool = torch.ones(B, num_items, dtype=torch.bool, device=device)  # (B, V)
    pool[:, :NUM_RESERVED] = False
    pool.scatter_(1, target.long()[:, None], False)
    if exclude is not None:
        pool &= ~exclude
    keys = keys.masked_fill(~pool, torch.inf)  # (B, V) items outside the pool never win
    chosen = keys.topk(min(num_negatives, num_items), dim=1, largest=False).indices  # (B, N)
    drawn = torch.zeros_like(pool).scatter_(1, chosen, True)  # (B, V)
    return drawn & pool  # a short pool leaves some of the N picks outside it


def sampled_rank(
    scores: torch.Tensor,
    target: torch.Tensor,
    num_negatives: int = 100,
    exclude: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """0-based rank of each target among ``num_negatives`` sampled items (ties split, as in
    ``rank_of_target``).

    Shape:
        scores: (B, V); target: (B,); exclude: (B, V) bool -> (B,) int64
    """
    negatives = sampled_negatives(target, scores.shape[1], num_negatives, exclude, seed)
    return rank_of_target(scores, target, exclude=~negatives)


def compare_protocols(
    scores: torch.Tensor,
    target: torch.Tensor,
    num_negatives: int = 100,
    ks: Sequence[int] = (10,),
    exclude: torch.Tensor | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """HR@K, NDCG@K and MRR of the same scores under both protocols, side by side.

    Args:
        scores, target: next-item scores and targets, as in ``ranking_metrics``.
        num_negatives: N of the sampled protocol.
        ks: the cut-offs K.
        exclude: items left out of both protocols (e.g. the history); never the target.
        seed: seeds the negatives.

    Returns:
        Two rows, "full catalogue" and "N sampled negatives", one column per metric.

    Shape:
        scores: (B, V); target: (B,); exclude: (B, V) bool
    """
    negatives = sampled_negatives(target, scores.shape[1], num_negatives, exclude, seed)
    rows = {
        "full catalogue": ranking_metrics(scores, target, ks, exclude),
        f"{num_negatives} sampled negatives": ranking_metrics(scores, target, ks, ~negatives),
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("protocol")
