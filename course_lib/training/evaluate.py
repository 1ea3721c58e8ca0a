"""Evaluating next-item scores over a whole DataLoader (notebook 03).

Models and baselines are evaluated alike: each is a function from a batch to next-item scores
over the catalogue, so a learner can compare an LSTM with a popularity count line by line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from course_lib.metrics.ranking import RankingAccumulator, history_mask
from course_lib.training.loop import Batch, move_batch


@torch.no_grad()
def evaluate_ranking(
    score: Callable[[Batch], torch.Tensor],
    loader: Iterable[Batch],
    device: torch.device | str,
    ks: Sequence[int] = (10,),
    exclude_history: bool = False,
) -> dict[str, float]:
    """HR@K, NDCG@K and MRR of next-item scores, accumulated batch by batch.

    Args:
        score: maps a batch to (B, V) next-item scores, e.g. ``lambda b: model(b)["next_item"]``
            (call ``model.eval()`` first) or ``PopularityBaseline.scores``.
        loader: batches whose ``next_item`` is the target.
        device: where batches go before scoring.
        ks: the cut-offs K.
        exclude_history: drop items already in the history from the ranking (never the
            target): the "recommend something new" protocol.
    """
    accumulator = RankingAccumulator(ks)
    for batch in loader:
        batch = move_batch(batch, device)
        scores = score(batch)  # (B, V)
        exclude = None
        if exclude_history:
            exclude = history_mask(batch["history_item"], scores.shape[1], batch["next_item"])
        accumulator.update(scores, batch["next_item"], exclude)
    return accumulator.compute()
