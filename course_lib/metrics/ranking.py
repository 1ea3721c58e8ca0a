"""Ranking metrics for next-item scores over the whole catalogue: HR@K, NDCG@K and MRR.

Each example has one relevant item, its target. Its *rank* is the number of valid items that
score higher (0 = top of the list; ties below), and every metric is a function of that rank:

| metric | per example                           | reads as                          |
| ------ | ------------------------------------- | --------------------------------- |
| HR@K   | 1 if rank < K else 0                  | share of targets in the top K     |
| NDCG@K | 1 / log2(rank + 2) if rank < K else 0 | HR@K, discounted by the position  |
| MRR    | 1 / (rank + 1)                        | mean reciprocal position          |

Columns PAD (0) and UNK (1) are never candidates. Ties are split: every item scoring higher
than the target counts, and half of the other items scoring exactly the same (the target's
expected position if ties were broken at random). So a model that scores every item alike lands
in the middle of the list, never at the top, and low-precision scores (float16, bfloat16),
which tie more often, neither flatter nor punish a model on average.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from course_lib.data.vocab import NUM_RESERVED, PAD


def rank_of_target(
    scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """0-based rank of each target: valid items scoring higher, plus half of its ties.

    Args:
        scores: next-item scores (logits or any monotone transform), one column per item.
        target: item index of the true next item; must be a real item (not PAD or UNK).
        exclude: True at items to drop from the ranking, e.g. ``history_mask(...)``. The
            target is never dropped: it cannot outrank itself, so a True there changes nothing.

    Returns:
        The rank of every target, on the device of ``scores``.

    Raises:
        ValueError: for mismatched shapes, targets that are PAD/UNK or outside the columns,
            or NaN scores.

    Shape:
        scores: (B, V); target: (B,) int64; exclude: (B, V) bool; returns (B,) int64.
    """
    target = target.long()
    _check_inputs(scores, target, exclude)
    target_score = scores.gather(1, target[:, None])  # (B, 1)
    valid = torch.ones_like(scores, dtype=torch.bool)  # (B, V)
    valid[:, :NUM_RESERVED] = False
    if exclude is not None:
        valid &= ~exclude
    valid.scatter_(1, target[:, None], False)  # the target is not its own competitor
    higher = (scores > target_score) & valid  # (B, V)
    tied = (scores == target_score) & valid  # (B, V)
    return higher.sum(dim=1) + tied.sum(dim=1) // 2  # (B,)


def history_mask(
    history_item: torch.Tensor, num_items: int, target: torch.Tensor | None = None
) -> torch.Tensor:
    """Mark the items each user has already interacted with, to exclude them from a ranking.

    Args:
        history_item: item indices of the history, right-padded with PAD.
        num_items: the item vocabulary size V (PAD and UNK included).
        target: if given, the target item stays unmarked even when it is in the history.

    Returns:
        True at every item of the history, except PAD and the target.

    Keeping the target while dropping the rest of the history is the common protocol, but it
    is generous to targets that repeat a history item (their rivals are removed, they are
    not); report metrics with and without the exclusion.

    Shape:
        history_item: (B, L) int64; target: (B,) int64; returns (B, V) bool.
    """
    if history_item.numel() and int(history_item.max()) >= num_items:
        raise ValueError(
            f"history_item holds item {int(history_item.max())}, but num_items is {num_items}"
        )
    mask = torch.zeros(
        history_item.shape[0], num_items, dtype=torch.bool, device=history_item.device
    )  # (B, V)
    mask.scatter_(1, history_item, True)
    mask[:, PAD] = False
    if target is not None:
        mask.scatter_(1, target.long()[:, None], False)
    return mask


def ranking_metrics(
    scores: torch.Tensor,
    target: torch.Tensor,
    ks: Sequence[int] = (10,),
    exclude: torch.Tensor | None = None,
) -> dict[str, float]:
    """HR@K and NDCG@K for every K in ``ks``, and MRR, averaged over the batch.

    Args:
        scores, target, exclude: as in ``rank_of_target``.
        ks: the cut-offs K; a K at least the number of items gives HR@K = 1.

    Returns:
        ``{"HR@10": ..., "NDCG@10": ..., "MRR": ...}`` (one HR and NDCG key per K).

    Shape:
        scores: (B, V); target: (B,); exclude: (B, V).
    """
    accumulator = RankingAccumulator(ks)
    accumulator.update(scores, target, exclude)
    return accumulator.compute()


class RankingAccumulator:
    """``ranking_metrics`` over many batches, keeping sums rather than scores in memory.

    Example::

        accumulator = RankingAccumulator(ks=(10, 20))
        for batch in loader:
            accumulator.update(model(batch)["next_item"], batch["next_item"])
        accumulator.compute()  # {"HR@10": ..., "NDCG@10": ..., "HR@20": ..., ...}
    """

    def __init__(self, ks: Sequence[int] = (10,)) -> None:
        if any(k < 1 for k in ks):
            raise ValueError(f"every cut-off K must be at least 1, got {list(ks)}")
        self.ks = tuple(ks)
        self.names = [f"{name}@{k}" for k in self.ks for name in ("HR", "NDCG")] + ["MRR"]
        self.sums = dict.fromkeys(self.names, 0.0)
        self.count = 0

    def update(
        self, scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> None:
        """Add one batch; arguments and shapes as in ``rank_of_target``."""
        rank = rank_of_target(scores, target, exclude).float()  # (B,)
        gain = 1.0 / torch.log2(rank + 2.0)  # (B,) the NDCG of a target at this rank
        per_example = []
        for k in self.ks:
            hit = (rank < k).float()  # (B,)
            per_example += [hit, hit * gain]
        per_example.append(1.0 / (rank + 1.0))
        batch_sums = torch.stack(per_example).sum(dim=1)  # (2 * len(ks) + 1,)
        for name, value in zip(self.names, batch_sums.tolist(), strict=True):
            self.sums[name] += value  # Python floats: exact enough over any number of batches
        self.count += len(target)

    def compute(self) -> dict[str, float]:
        """Mean of every metric over all examples seen so far."""
        if self.count == 0:
            raise ValueError("no examples to average: call update() with a non-empty batch")
        return {name: total / self.count for name, total in self.sums.items()}


def _check_inputs(
    scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None
) -> None:
    """Raise a ValueError naming what is wrong with the arguments of ``rank_of_target``."""
    if scores.ndim != 2 or target.shape != scores.shape[:1]:
        raise ValueError(
            f"scores must be (B, V) and target (B,); got {tuple(scores.shape)} and "
            f"{tuple(target.shape)}"
        )
    if exclude is not None and (exclude.shape != scores.shape or exclude.dtype != torch.bool):
        raise ValueError(
            f"exclude must be a bool tensor shaped like scores {tuple(scores.shape)}; got "
            f"{exclude.dtype} {tuple(exclude.shape)}"
        )
    reserved = int((target < NUM_RESERVED).sum())
    if reserved:
        raise ValueError(
            f"{reserved} of {len(target)} targets are PAD ({PAD}) or UNK, which are not items "
            "to rank. Fix: filter those samples out (UNK targets appear when the item "
            "vocabulary was built with min_count > 1)."
        )
    if len(target) and int(target.max()) >= scores.shape[1]:
        raise ValueError(
            f"target item {int(target.max())} is outside the {scores.shape[1]} score columns"
        )
    if scores[:, NUM_RESERVED:].isnan().any():
        raise ValueError("scores contain NaN; a diverged model cannot be ranked")
